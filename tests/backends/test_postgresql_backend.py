"""PostgreSQL specifics: URLs, the schema, connections, the application's transaction, waking.

The conformance suite (tests/backends/test_backend_conformance.py) covers the
interface; these tests cover what only this backend has.
"""

from __future__ import annotations

import collections
import hashlib
import multiprocessing
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import pytest

import conveyor
import conveyor_test_jobs
from conveyor import config
from conveyor.backends import open_backend
from conveyor.backends.base import Completion, JobState, NewJob
from conveyor.exceptions import (
    BackendUnavailable,
    ConfigError,
    DuplicateJobError,
    StoreVersionError,
)
from support import StartWorker, free_port, open_at_once, stop_process, wait_until

psycopg = pytest.importorskip("psycopg")

from conveyor.backends.postgresql import (  # noqa: E402 -- only with the driver installed
    SCHEMA_VERSION,
    PostgreSQLBackend,
    create_tables,
    enqueue_in,
    enqueue_on,
    in_transaction,
)

SOCKET_DIR = Path("/var/run/postgresql")
QUEUE = "conveyor:pgtest:default"
OTHER_QUEUE = "conveyor:pgtest:other"


def unique_name() -> str:
    """An application_name no other test uses, to find a backend's server session by."""
    return f"cvtest-{uuid.uuid4().hex[:12]}"


def job(job_id: str, queue: str = QUEUE, **changes: Any) -> NewJob:
    fields: dict[str, Any] = {
        "id": job_id,
        "queue": queue,
        "func": "conveyor_test_jobs:succeed",
        "payload": b"[[], {}]",
        "created_at": time.time(),
        "timeout": 180,
        **changes,
    }
    return NewJob(**fields)


def split(url: str) -> tuple[str, str]:
    """(the URL without ?schema=, the schema) of a postgresql_url."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    return urlunsplit(parts._replace(query="")), query["schema"]


def with_options(url: str, **options: str) -> str:
    """The URL with more query options."""
    extra = "&".join(f"{key}={value}" for key, value in options.items())
    return f"{url}&{extra}"


@pytest.fixture
def opened() -> Iterator[list[PostgreSQLBackend]]:
    """Backends a test opens, closed afterwards."""
    backends: list[PostgreSQLBackend] = []
    yield backends
    for backend in backends:
        backend.close()


@pytest.fixture
def open_pg(
    postgresql_url: str, opened: list[PostgreSQLBackend]
) -> Callable[..., PostgreSQLBackend]:
    """Open a backend on the test's schema; keywords go to the constructor."""

    def open_one(application_name: str = "conveyor", **kwargs: Any) -> PostgreSQLBackend:
        server, schema = split(postgresql_url)
        conninfo = f"{server}?application_name={application_name}"
        backend = PostgreSQLBackend(conninfo, schema=schema, **kwargs)
        opened.append(backend)
        return backend

    return open_one


@pytest.fixture
def app_connection(postgresql_url: str) -> Iterator[Any]:
    """The application's own connection: default search path, autocommit off."""
    server, _ = split(postgresql_url)
    conn = psycopg.connect(server)
    yield conn
    conn.close()


@pytest.fixture
def admin(postgresql_url: str) -> Iterator[Any]:
    """An autocommit connection to look at the server from outside."""
    server, _ = split(postgresql_url)
    conn = psycopg.connect(server, autocommit=True)
    yield conn
    conn.close()


# -- URLs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schema",
    ["a%20b", "", "Upper", "1st", "x" * 64, "semi;colon", "ok&schema=twice"],
)
def test_the_schema_option_is_validated_before_connecting(schema: str) -> None:
    port = free_port()  # nothing listens there: validation must come first
    with pytest.raises(ConfigError, match="Invalid schema"):
        open_backend(f"postgresql://postgres@127.0.0.1:{port}/test?schema={schema}")


def test_an_unknown_url_option_is_refused_without_showing_the_password() -> None:
    with pytest.raises(ConfigError, match='invalid URI query parameter: "foo"') as caught:
        open_backend("postgresql://me:secret@127.0.0.1:1/test?foo=1")
    assert "secret" not in str(caught.value)
    assert "me:***@127.0.0.1" in str(caught.value)
    with pytest.raises(ConfigError, match='invalid connection option "foo"') as caught:
        PostgreSQLBackend("host=127.0.0.1 port=1 password=secret foo=1")
    assert "secret" not in str(caught.value)
    assert "password=***" in str(caught.value)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_both_schemes_open_a_postgresql_backend_in_the_named_schema(
    scheme: str, postgresql_url: str, opened: list[PostgreSQLBackend]
) -> None:
    _, schema = split(postgresql_url)
    backend = open_backend(postgresql_url.replace("postgresql://", f"{scheme}://", 1))
    assert isinstance(backend, PostgreSQLBackend)
    opened.append(backend)
    assert backend.schema == schema


def test_a_unix_socket_url_reaches_the_same_tables(
    postgresql_url: str, opened: list[PostgreSQLBackend]
) -> None:
    if not (SOCKET_DIR / ".s.PGSQL.5432").exists():
        pytest.skip(f"no PostgreSQL socket in {SOCKET_DIR}")
    _, schema = split(postgresql_url)
    over_tcp = open_backend(postgresql_url)
    assert isinstance(over_tcp, PostgreSQLBackend)
    opened.append(over_tcp)
    over_socket = open_backend(f"postgresql://postgres@/test?host={SOCKET_DIR}&schema={schema}")
    assert isinstance(over_socket, PostgreSQLBackend)
    opened.append(over_socket)
    over_tcp.enqueue([job("by-tcp")], now=time.time())
    record = over_socket.get("by-tcp")
    assert record is not None
    assert record.state is JobState.QUEUED
    assert str(SOCKET_DIR) in over_socket.where


def test_other_libpq_options_are_passed_to_the_server(
    postgresql_url: str, opened: list[PostgreSQLBackend], admin: Any
) -> None:
    name = unique_name()
    backend = open_backend(with_options(postgresql_url, application_name=name))
    assert isinstance(backend, PostgreSQLBackend)
    opened.append(backend)
    sessions = admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)
    ).fetchone()
    assert sessions == (1,)


# -- connections ---------------------------------------------------------------------


def test_an_unreachable_server_is_unavailable_naming_the_host() -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://postgres@127.0.0.1:{port}/test"
    with pytest.raises(BackendUnavailable, match=f"PostgreSQL at 127.0.0.1:{port}/test"):
        open_backend(url)
    with (
        config.override({"conveyor.backend": url}),
        pytest.raises(BackendUnavailable, match="is unavailable"),
    ):
        conveyor.enqueue(conveyor_test_jobs.succeed)


def terminate(admin: Any, application_name: str) -> None:
    """End the server sessions of one application, and wait until they are gone."""
    ended = admin.execute(
        "SELECT bool_and(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity"
        " WHERE application_name = %s",
        (application_name,),
    ).fetchone()
    assert ended == (True,)


def test_a_dropped_connection_is_unavailable_then_replaced(
    postgresql_url: str, opened: list[PostgreSQLBackend], admin: Any
) -> None:
    name = unique_name()
    backend = open_backend(with_options(postgresql_url, application_name=name))
    assert isinstance(backend, PostgreSQLBackend)
    opened.append(backend)
    backend.enqueue([job("before")], now=time.time())
    terminate(admin, name)
    with pytest.raises(BackendUnavailable, match=re.escape("PostgreSQL at 127.0.0.1:5432/test")):
        backend.get("before")
    record = backend.get("before")  # a fresh connection
    assert record is not None
    assert record.state is JobState.QUEUED


# -- waking waiting claims -------------------------------------------------------------


def last_change(admin: Any, application_name: str) -> tuple[str, Any]:
    """(state, state_change) of the one server session of an application."""
    rows = admin.execute(
        "SELECT state, state_change FROM pg_stat_activity WHERE application_name = %s",
        (application_name,),
    ).fetchall()
    assert len(rows) == 1, rows
    return rows[0][0], rows[0][1]


def claim_while(
    admin: Any,
    claimer: PostgreSQLBackend,
    application_name: str,
    enqueue: Callable[[], object],
    wait: float = 50.0,
) -> tuple[list[str], float]:
    """Start a waiting claim, let ``enqueue`` run once the claim has looked and found
    nothing, and return (what the claim took, how long it took).

    The claimer must already LISTEN (one earlier waiting claim on the same
    queues): then the only transaction the claim runs is its look, and its
    session going idle again means the look is over.
    """
    _, before = last_change(admin, application_name)
    taken: list[list[str]] = []
    thread = threading.Thread(
        target=lambda: taken.append(
            [
                record.id
                for record in claimer.claim(
                    [QUEUE], worker="w", lease=30, now=time.time(), wait=wait
                )
            ]
        ),
        daemon=True,
    )
    started = time.monotonic()
    thread.start()

    def looked() -> bool:
        state, changed = last_change(admin, application_name)
        return state == "idle" and changed > before

    wait_until(looked, "the claim to look and find nothing")
    enqueue()
    thread.join(wait + 10)
    assert not thread.is_alive()
    return (taken[0] if taken else []), time.monotonic() - started


def listening_claimer(
    open_pg: Callable[..., PostgreSQLBackend],
) -> tuple[PostgreSQLBackend, str]:
    """A backend whose waiting claims only wake on a NOTIFY (its recheck is a minute)."""
    name = unique_name()
    claimer = open_pg(application_name=name, recheck=60.0)
    assert claimer.claim([QUEUE], worker="w", lease=30, now=time.time(), wait=0.01) == []
    return claimer, name


def test_a_waiting_claim_wakes_when_another_connection_enqueues(
    open_pg: Callable[..., PostgreSQLBackend], admin: Any
) -> None:
    claimer, name = listening_claimer(open_pg)
    producer = open_pg()
    taken, elapsed = claim_while(
        admin, claimer, name, lambda: producer.enqueue([job("late")], now=time.time())
    )
    assert taken == ["late"]
    assert elapsed < 30, "the claim was not woken by the enqueue's notification"


def test_a_waiting_claim_wakes_when_a_job_is_released_to_its_queue(
    open_pg: Callable[..., PostgreSQLBackend], admin: Any
) -> None:
    claimer, name = listening_claimer(open_pg)
    other = open_pg()
    other.enqueue([job("held")], now=time.time())
    (held,) = other.claim([QUEUE], worker="other", lease=30, now=time.time())
    release = Completion(held.id, held.lease_token or "", JobState.QUEUED)
    taken, elapsed = claim_while(
        admin, claimer, name, lambda: other.complete([release], now=time.time())
    )
    assert taken == ["held"]
    assert elapsed < 30


def test_a_waiting_claim_after_a_reconnect_listens_again(
    open_pg: Callable[..., PostgreSQLBackend], admin: Any
) -> None:
    claimer, name = listening_claimer(open_pg)
    producer = open_pg()
    terminate(admin, name)
    with pytest.raises(BackendUnavailable):
        claimer.claim([QUEUE], worker="w", lease=30, now=time.time(), wait=0.01)
    assert claimer.claim([QUEUE], worker="w", lease=30, now=time.time(), wait=0.01) == []
    taken, elapsed = claim_while(
        admin, claimer, name, lambda: producer.enqueue([job("after")], now=time.time())
    )
    assert taken == ["after"]
    assert elapsed < 30


def test_a_waiting_claim_takes_a_retry_that_comes_due_meanwhile(
    open_pg: Callable[..., PostgreSQLBackend],
) -> None:
    backend = open_pg()  # the default recheck: once a second
    backend.enqueue([job("flaky")], now=time.time())
    (first,) = backend.claim([QUEUE], worker="w", lease=30, now=time.time())
    retry = Completion(
        first.id, first.lease_token or "", JobState.SCHEDULED, run_at=time.time() + 0.3
    )
    assert backend.complete([retry], now=time.time()) == [True]
    claimed = backend.claim([QUEUE], worker="w", lease=30, now=time.time(), wait=30)
    assert [(r.id, r.attempts) for r in claimed] == [("flaky", 2)]


# -- the application's transaction ------------------------------------------------------


@pytest.fixture
def on_postgresql(postgresql_url: str) -> Iterator[str]:
    """The process-wide configuration pointed at the test's schema."""
    with config.override({"conveyor.backend": postgresql_url}):
        yield postgresql_url


def test_a_job_enqueued_in_an_open_transaction_is_invisible_until_commit(
    on_postgresql: str, open_pg: Callable[..., PostgreSQLBackend], app_connection: Any
) -> None:
    worker = open_pg()
    with in_transaction(app_connection):
        queued = conveyor.enqueue(conveyor_test_jobs.succeed, queue="mail")
    mail = conveyor.config.current().queue_prefix + "mail"
    assert worker.get(queued.id) is None
    assert worker.claim([mail], worker="w", lease=30, now=time.time()) == []
    app_connection.commit()
    assert [r.id for r in worker.claim([mail], worker="w", lease=30, now=time.time())] == [
        queued.id
    ]


def test_a_job_enqueued_in_a_transaction_that_rolls_back_is_gone(
    on_postgresql: str, open_pg: Callable[..., PostgreSQLBackend], app_connection: Any
) -> None:
    worker = open_pg()
    queued: list[conveyor.Job] = []

    def place_an_invalid_order() -> None:
        with app_connection.transaction(), in_transaction(app_connection):
            queued.append(conveyor.enqueue(conveyor_test_jobs.succeed))
            raise RuntimeError("the order is invalid")

    with pytest.raises(RuntimeError, match="the order is invalid"):
        place_an_invalid_order()
    assert worker.get(queued[0].id) is None
    assert conveyor.job_list() == []


def test_the_documented_example_stores_the_order_and_its_job_together(
    on_postgresql: str, open_pg: Callable[..., PostgreSQLBackend], app_connection: Any
) -> None:
    worker = open_pg()
    app_connection.execute("CREATE TEMPORARY TABLE orders (id integer, total integer)")
    app_connection.commit()
    with app_connection.transaction(), in_transaction(app_connection):
        app_connection.execute("INSERT INTO orders (id, total) VALUES (%s, %s)", (7, 100))
        queued = conveyor.enqueue(conveyor_test_jobs.echo, [7], title="confirm order 7")
        assert worker.get(queued.id) is None
    assert app_connection.execute("SELECT id FROM orders").fetchall() == [(7,)]
    assert conveyor.job_show(queued.id)["title"] == "confirm order 7"
    assert conveyor.job_list(ids_only=True) == [queued.id]


def test_enqueue_on_joins_a_transaction_the_application_has_not_begun(
    open_pg: Callable[..., PostgreSQLBackend], app_connection: Any
) -> None:
    worker = open_pg()
    enqueue_on(app_connection, [job("mine")], now=time.time(), schema=worker.schema)
    app_connection.rollback()
    assert worker.get("mine") is None


def test_the_old_name_enqueue_in_still_enqueues_and_warns_it_is_deprecated(
    open_pg: Callable[..., PostgreSQLBackend], app_connection: Any
) -> None:
    worker = open_pg()
    with pytest.warns(DeprecationWarning, match=r"enqueue_in\(connection, jobs\) is deprecated"):
        enqueue_in(app_connection, [job("old-name")], now=time.time(), schema=worker.schema)
    app_connection.commit()
    stored = worker.get("old-name")
    assert stored is not None
    assert stored.state is JobState.QUEUED


# -- bulk enqueue: one statement of binary column arrays ----------------------------------


def test_a_batch_keeps_every_value_of_every_job_through_the_binary_arrays(
    open_pg: Callable[..., PostgreSQLBackend],
) -> None:
    backend = open_pg()
    now = time.time()
    jobs = [
        job(
            f"bulk-{n}",
            payload=bytes([n % 256, 0, 255]) * (n + 1),  # NUL and high bytes, varying sizes
            title=None if n % 3 else f"t\u00e9tulo {n} \u2603",
            description="d" if n == 7 else None,
            meta={"n": n, "nested": {"x": [1, 2.5, None]}} if n % 2 else {},
            timeout=-1 if n == 4 else 180 + n,
            result_ttl=0 if n == 5 else 60,
            failure_ttl=-1 if n == 6 else 3600,
            max_attempts=1 + n % 4,
            retry={"max": 2, "intervals": [1.5, 3.0]} if n == 8 else None,
            options={"k": [n]} if n == 9 else {},
            run_at=now + 3600 if n == 10 else None,
            created_at=now - n / 7,
        )
        for n in range(12)
    ]
    backend.enqueue(jobs, now=now)
    for new in jobs:
        stored = backend.get(new.id)
        assert stored is not None, new.id
        expected = (
            new.payload, new.title, new.description, dict(new.meta), new.timeout,
            new.result_ttl, new.failure_ttl, new.max_attempts,
            None if new.retry is None else dict(new.retry), dict(new.options),
            new.run_at, new.created_at, now,
        )  # fmt: skip
        assert (
            stored.payload, stored.title, stored.description, dict(stored.meta),
            stored.timeout, stored.result_ttl, stored.failure_ttl, stored.max_attempts,
            None if stored.retry is None else dict(stored.retry), dict(stored.options),
            stored.run_at, stored.created_at, stored.enqueued_at,
        ) == expected  # fmt: skip
        want = JobState.QUEUED if new.run_at is None else JobState.SCHEDULED
        assert stored.state is want


def test_a_batch_with_one_taken_id_at_its_end_stores_none_of_its_thousand_jobs(
    open_pg: Callable[..., PostgreSQLBackend],
) -> None:
    backend = open_pg()
    backend.enqueue([job("held")], now=time.time())
    batch = [job(f"many-{n}") for n in range(999)] + [job("held", title="again")]
    with pytest.raises(DuplicateJobError, match="held"):
        backend.enqueue(batch, now=time.time())
    assert [record.id for record in backend.list_jobs([QUEUE], limit=5).items] == ["held"]
    held = backend.get("held")
    assert held is not None
    assert held.title is None
    assert backend.get("many-0") is None


def test_a_batch_naming_one_id_twice_is_refused_and_stores_nothing(
    open_pg: Callable[..., PostgreSQLBackend],
) -> None:
    backend = open_pg()
    with pytest.raises(DuplicateJobError, match="twice"):
        backend.enqueue([job("once"), job("twice"), job("twice")], now=time.time())
    assert backend.get("once") is None


def test_a_batch_wakes_each_of_its_queues_once_and_keeps_the_order_given(
    open_pg: Callable[..., PostgreSQLBackend], admin: Any
) -> None:
    backend = open_pg()

    def channel(queue: str) -> str:
        return "conveyor_" + hashlib.md5(f"{backend.schema}/{queue}".encode()).hexdigest()

    marker = f"cvtest_marker_{uuid.uuid4().hex[:12]}"
    for name in (channel(QUEUE), channel(OTHER_QUEUE), marker):
        admin.execute(f'LISTEN "{name}"')
    batch = [job(f"a-{n}") for n in range(10)] + [job(f"b-{n}", OTHER_QUEUE) for n in range(5)]
    batch.insert(3, job("front", at_front=True))
    backend.enqueue(batch, now=time.time())
    # Notifications arrive in commit order: once the marker, committed after the
    # batch, is here, every notification of the batch is here too.
    admin.execute("SELECT pg_notify(%s, '')", [marker])
    got: list[str] = []
    for note in admin.notifies(timeout=30):
        got.append(note.channel)
        if note.channel == marker:
            break
    assert collections.Counter(got) == {channel(QUEUE): 1, channel(OTHER_QUEUE): 1, marker: 1}
    claimed = backend.claim([QUEUE], worker="w", lease=30, now=time.time(), limit=20)
    assert [record.id for record in claimed] == ["front"] + [f"a-{n}" for n in range(10)]


def test_a_duplicate_id_undoes_only_the_enqueue_and_the_search_path_is_restored(
    open_pg: Callable[..., PostgreSQLBackend], app_connection: Any
) -> None:
    worker = open_pg()
    worker.enqueue([job("taken", title="first")], now=time.time())
    app_connection.execute("CREATE TEMPORARY TABLE orders (id integer)")
    path = app_connection.execute("SHOW search_path").fetchone()
    app_connection.execute("INSERT INTO orders VALUES (1)")
    with pytest.raises(DuplicateJobError, match="taken"):
        enqueue_on(
            app_connection, [job("new"), job("taken")], now=time.time(), schema=worker.schema
        )
    enqueue_on(app_connection, [job("fresh")], now=time.time(), schema=worker.schema)
    assert app_connection.execute("SHOW search_path").fetchone() == path
    app_connection.execute("INSERT INTO orders VALUES (2)")
    assert app_connection.execute("SELECT count(*) FROM orders").fetchone() == (2,)
    app_connection.commit()
    assert worker.get("new") is None
    fresh, taken = worker.get("fresh"), worker.get("taken")
    assert fresh is not None
    assert fresh.state is JobState.QUEUED
    assert taken is not None
    assert taken.title == "first"


def test_a_commit_wakes_a_claim_waiting_for_the_job(
    open_pg: Callable[..., PostgreSQLBackend], admin: Any, app_connection: Any
) -> None:
    claimer, name = listening_claimer(open_pg)

    def enqueue_and_commit() -> None:
        with app_connection.transaction():
            enqueue_on(app_connection, [job("committed")], now=time.time(), schema=claimer.schema)

    taken, elapsed = claim_while(admin, claimer, name, enqueue_and_commit)
    assert taken == ["committed"]
    assert elapsed < 30


# -- the schema --------------------------------------------------------------------------


def catalog(admin: Any, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """What a schema holds, with its name taken out, to compare two schemas."""
    queries = {
        "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default,"
        " collation_name, ordinal_position FROM information_schema.columns"
        " WHERE table_schema = %(s)s",
        "indexes": "SELECT indexname, replace(indexdef, %(s)s || '.', '') FROM pg_indexes"
        " WHERE schemaname = %(s)s",
        "constraints": "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)"
        " FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
        " WHERE n.nspname = %(s)s",
        "relations": "SELECT c.relname, c.relkind FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(s)s",
        "versions": "SELECT version FROM {}.conveyor_schema_version",
    }
    found: dict[str, list[tuple[Any, ...]]] = {}
    for name, query in queries.items():
        text = query.format(f'"{schema}"')
        rows = admin.execute(text, {"s": schema}).fetchall()
        found[name] = sorted(tuple(str(v).replace(f"{schema}.", "") for v in row) for row in rows)
    return found


# Every migration, as the catalog lists conveyor_schema_version.
ALL_VERSIONS = [(str(version),) for version in range(1, SCHEMA_VERSION + 1)]


def test_the_schema_applied_twice_equals_the_schema_applied_once(
    postgresql_url: str, open_pg: Callable[..., PostgreSQLBackend], admin: Any
) -> None:
    once = open_pg()
    server, _ = split(postgresql_url)
    twice = f"cvtest_{uuid.uuid4().hex[:12]}"
    try:
        PostgreSQLBackend(server, schema=twice).close()
        with psycopg.connect(server, options=f"-c search_path={twice}") as conn:
            create_tables(conn)
        assert catalog(admin, twice) == catalog(admin, once.schema)
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{twice}" CASCADE')
    layout = catalog(admin, once.schema)
    assert layout["versions"] == ALL_VERSIONS
    types = {(t, c): d for t, c, d, *_ in layout["columns"]}
    assert types["conveyor_jobs", "payload"] == "bytea"
    assert types["conveyor_jobs", "errors"] == "jsonb"
    assert types["conveyor_jobs", "created_at"] == "double precision"
    assert {name for name, _ in layout["indexes"]} >= {
        "conveyor_jobs_claim",
        "conveyor_jobs_due",
        "conveyor_jobs_leases",
        "conveyor_jobs_expiry",
    }


def test_concurrent_first_opens_of_a_schema_do_not_race(
    open_pg: Callable[..., PostgreSQLBackend], admin: Any
) -> None:
    opened = open_at_once(open_pg)
    assert catalog(admin, opened[0].schema)["versions"] == ALL_VERSIONS


def test_tables_newer_than_this_conveyor_are_refused(
    open_pg: Callable[..., PostgreSQLBackend], admin: Any
) -> None:
    schema = open_pg().schema
    newer = SCHEMA_VERSION + 1
    admin.execute(f'INSERT INTO "{schema}".conveyor_schema_version (version) VALUES ({newer})')
    with pytest.raises(
        StoreVersionError,
        match=f"is at layout version {newer}, but this conveyor knows versions up to"
        f" {SCHEMA_VERSION}",
    ):
        open_pg()


# -- workers and concurrent claimers -------------------------------------------------------


def test_a_worker_runs_jobs_from_postgresql_in_queue_order(
    on_postgresql: str, tmp_path: Path
) -> None:
    log = tmp_path / "order.txt"
    for queue, text in (("b", "b1"), ("a", "a1"), ("b", "b2"), ("a", "a2")):
        conveyor.enqueue(conveyor_test_jobs.touch, [str(log), text], queue=queue)
    failing = conveyor.enqueue(conveyor_test_jobs.failing_job, queue="a", max_attempts=1)
    added = conveyor.enqueue(conveyor_test_jobs.add, [2, 3], queue="b")
    conveyor.Worker(["a", "b"]).work(burst=True)
    assert log.read_text().split() == ["a1", "a2", "b1", "b2"]
    failing.refresh()
    assert failing.state.value == "failed"
    assert failing.error is not None
    assert failing.error.message == "JOB FAILURE"
    added.refresh()
    assert (added.state.value, added.result) == ("finished", 5)
    assert [q["name"] for q in conveyor.queue_list()] == ["a", "b"]


def test_one_backend_may_be_shared_by_threads(open_pg: Callable[..., PostgreSQLBackend]) -> None:
    backend = open_pg()
    claimed: list[str] = []
    errors: list[BaseException] = []

    def produce_and_consume(thread: int) -> None:
        try:
            for n in range(50):
                backend.enqueue([job(f"t{thread}-{n}")], now=time.time())
                taken = backend.claim([QUEUE], worker=f"w{thread}", lease=30, now=time.time())
                claimed.extend(record.id for record in taken)
                done = [Completion(r.id, r.lease_token or "", JobState.FINISHED) for r in taken]
                assert all(backend.complete(done, now=time.time()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=produce_and_consume, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    claimed.extend(
        r.id for r in backend.claim([QUEUE], worker="w", lease=30, now=time.time(), limit=200)
    )
    assert sorted(claimed) == sorted(f"t{t}-{n}" for t in range(4) for n in range(50))


CLAIMED_JOBS = 6000


def claim_everything(url: str, name: str, out: str, go: str, limit: int) -> None:
    """Claim and finish jobs until none is left, writing each claimed id to ``out``."""
    backend = open_backend(url)
    try:
        deadline = time.monotonic() + 60
        while not Path(go).exists():  # both claimers start together
            if time.monotonic() > deadline:
                raise TimeoutError("never told to go")
            time.sleep(0.01)
        with open(out, "w", encoding="utf-8") as ids:
            while claimed := backend.claim(
                [QUEUE, OTHER_QUEUE], worker=name, lease=600, now=time.time(), limit=limit
            ):
                ids.writelines(f"{record.id}\n" for record in claimed)
                done = [Completion(r.id, r.lease_token or "", JobState.FINISHED) for r in claimed]
                assert all(backend.complete(done, now=time.time()))
    finally:
        backend.close()


@pytest.mark.slow
def test_two_claimer_processes_take_thousands_of_jobs_each_exactly_once(
    postgresql_url: str, open_pg: Callable[..., PostgreSQLBackend], tmp_path: Path
) -> None:
    producer = open_pg()
    for start in range(0, CLAIMED_JOBS, 1000):
        batch = [
            job(f"job-{n}", QUEUE if n % 3 else OTHER_QUEUE) for n in range(start, start + 1000)
        ]
        producer.enqueue(batch, now=time.time())
    go = tmp_path / "go"
    outs = [tmp_path / f"claimed-{n}.txt" for n in range(2)]
    context = multiprocessing.get_context("spawn")
    claimers = [
        context.Process(
            target=claim_everything,
            args=(postgresql_url, f"claimer-{n}", str(outs[n]), str(go), 1 + 4 * n),
        )
        for n in range(2)
    ]
    try:
        for process in claimers:
            process.start()
        go.touch()
        for process in claimers:
            process.join(timeout=100)
            assert process.exitcode == 0, "a claimer failed"
    finally:
        for process in claimers:
            if process.is_alive():
                process.kill()
                process.join(timeout=10)
    claims = collections.Counter(
        line for out in outs for line in out.read_text(encoding="utf-8").splitlines()
    )
    assert [job_id for job_id, times in claims.items() if times > 1] == []
    assert set(claims) == {f"job-{n}" for n in range(CLAIMED_JOBS)}
    counts = producer.count([QUEUE, OTHER_QUEUE])
    assert counts == {
        QUEUE: {JobState.FINISHED: CLAIMED_JOBS - CLAIMED_JOBS // 3},
        OTHER_QUEUE: {JobState.FINISHED: CLAIMED_JOBS // 3},
    }


@pytest.mark.slow
def test_a_worker_rides_out_its_connection_being_dropped_and_loses_no_job(
    on_postgresql: str,
    subprocess_env: dict[str, str],
    start_worker: StartWorker,
    admin: Any,
    tmp_path: Path,
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    jobs = conveyor.enqueue_many(
        {"fn": conveyor_test_jobs.record_run, "args": [str(runs), n, 0.01]} for n in range(200)
    )
    name = unique_name()  # the worker's sessions only, not this process's
    env = {
        **subprocess_env,
        "CONVEYOR_BACKEND": with_options(on_postgresql, application_name=name),
        "CONVEYOR_WORKER_LEASE": "3",
    }
    worker = start_worker("--log-level", "WARNING", env=env)
    try:
        wait_until(lambda: len(list(runs.iterdir())) >= 40, "40 jobs to run")
        terminate(admin, name)
        wait_until(
            lambda: conveyor.job_count(states=["finished"]) == len(jobs),
            "every job to finish",
            timeout=60,
        )
        assert worker.running(), "the worker must ride out the lost connection"
    finally:
        stop_process(worker.process)
    ran = {int(path.name.split("-")[0]) for path in runs.iterdir()}
    assert ran == set(range(200))
    assert "backend error" in worker.stderr
