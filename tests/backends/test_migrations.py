"""Stores that upgrade: a store written by the last release opens, migrated, with every job.

Each SQL store is created here as the last release created it (migration
0001's SQL, run by hand) and filled, in that layout, with jobs in every
state a store holds between runs; a backend of this release then opens it.
The Redis store is written the current way and stripped of its version key,
as the last release left it.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import conveyor
from conveyor import config, serializer
from conveyor.backends import Backend, JobRecord, JobState, migrations, open_backend
from conveyor.backends.base import Completion, ErrorInfo, NewJob
from conveyor.backends.migrations import Migration
from conveyor.backends.sqlite import SQLiteBackend
from conveyor.exceptions import StoreVersionError
from support import open_at_once

LATEST_SQL = migrations.latest("sqlite")
#: conveyor_schema_version of an SQLite store with every migration applied.
ALL_APPLIED = [(version,) for version in range(1, LATEST_SQL + 1)]
QUEUE = "default"


def columns(job_id: str, state: str, queue: str, now: float, **more: Any) -> dict[str, Any]:
    """The columns of a row of the first release's conveyor_jobs table (JSON as text)."""
    numbers = {"q1": (2, 3), "q2": (4, 5), "s-live": (1, 1), "s-lost": (10, 20), "x1": (6, 7)}
    first, second = numbers.get(job_id, (0, 0))
    row: dict[str, Any] = {
        "id": job_id,
        "queue": queue,
        "state": state,
        "position": 0,
        "func": "conveyor_test_jobs:add",
        "payload": serializer.dump_call([first, second], {}, "json"),
        "title": f"legacy {job_id}",
        "description": None,
        "meta": json.dumps({"from": "0.1", "job": job_id}),
        "timeout": 60,
        "result_ttl": 86_400,
        "failure_ttl": 604_800,
        "max_attempts": 3,
        "retry": None,
        "attempts": 0,
        "created_at": now - 300,
        "enqueued_at": now - 300,
        "run_at": None,
        "started_at": None,
        "ended_at": None,
        "worker": None,
        "lease_token": None,
        "lease_expires_at": None,
        "result": None,
        "errors": "[]",
        "expires_at": None,
    }
    row.update(more)
    return row


def legacy_rows(queue: str, now: float) -> list[dict[str, Any]]:
    """Queued, started (one live lease, one lost), finished and failed jobs."""
    failure = ErrorInfo("RuntimeError", "boom", "Traceback ...", attempt=1, at=now - 100)
    started = {"attempts": 1, "started_at": now - 120, "worker": "old-host:1:w"}
    return [
        columns("q1", "queued", queue, now, position=1, retry='{"delays": [1, 5]}'),
        columns("q2", "queued", queue, now, position=2, description="second"),
        columns(
            "s-live", "started", queue, now, lease_token="live", lease_expires_at=now + 600,
            **started,
        ),
        columns(
            "s-lost", "started", queue, now, lease_token="lost", lease_expires_at=now - 60,
            **started,
        ),
        columns(
            "f1", "finished", queue, now, attempts=1, started_at=now - 90, ended_at=now - 80,
            worker="old-host:1:w", result=serializer.dumps(7, "json"), expires_at=now + 9_000,
        ),
        columns(
            "x1", "failed", queue, now, attempts=1, max_attempts=1, started_at=now - 110,
            ended_at=now - 100, worker="old-host:1:w", expires_at=now + 9_000,
            errors=json.dumps([failure.to_dict()]),
        ),
    ]  # fmt: skip


def expected(row: Mapping[str, Any]) -> JobRecord:
    """The record a row of the old layout holds, as this release reads it."""
    fields = {k: v for k, v in row.items() if k not in {"position", "expires_at"}}
    fields["state"] = JobState(row["state"])
    fields["meta"] = json.loads(row["meta"])
    fields["retry"] = json.loads(row["retry"]) if row["retry"] else None
    fields["errors"] = tuple(ErrorInfo.from_dict(e) for e in json.loads(row["errors"]))
    return JobRecord(**fields)


def assert_intact_and_runnable(
    store: Backend, before: Mapping[str, JobRecord], now: float
) -> None:
    """Every job reads as it was written, and each one still runs (or ran) to its end."""
    for job_id, record in before.items():
        assert store.get(job_id) == record, job_id
    # A worker of the last release still holds s-live: its outcome is taken.
    live = before["s-live"].lease_token or ""
    done = Completion("s-live", live, JobState.FINISHED, result=serializer.dumps(2, "json"))
    assert store.complete([done], now=now) == [True]
    # s-lost's worker is gone: recovered; the failed x1 is put back by hand.
    assert [r.job_id for r in store.recover(now=now)] == ["s-lost"]
    assert store.requeue(["x1"], now=now) == ["x1"]
    conveyor.Worker([QUEUE]).work(burst=True)
    results = {job: conveyor.job_from_id(job).result for job in ("q1", "q2", "s-lost", "x1")}
    assert results == {"q1": 5, "q2": 9, "s-lost": 30, "x1": 13}
    assert conveyor.job_from_id("f1").result == 7
    assert conveyor.job_from_id("s-live").result == 2
    queue = before["q1"].queue
    assert store.list_jobs([queue], states=[JobState.FINISHED]).total == len(before)


def insert(execute: Callable[[str, Mapping[str, Any]], object], rows: list[dict[str, Any]], *,
           mark: Callable[[str], str]) -> None:  # fmt: skip
    """Insert rows through a driver whose placeholder for a name is ``mark(name)``."""
    for row in rows:
        names = ", ".join(row)
        values = ", ".join(mark(name) for name in row)
        execute(f"INSERT INTO conveyor_jobs ({names}) VALUES ({values})", row)


# -- SQLite --------------------------------------------------------------------------------


def create_legacy_sqlite(path: Path, rows: list[dict[str, Any]]) -> None:
    """A database as the last release created and left it: 0001's SQL, no version table."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript("BEGIN IMMEDIATE;" + migrations.migrations("sqlite")[0].sql + "COMMIT;")
    insert(db.execute, rows, mark=lambda name: f":{name}")
    db.close()


def sqlite_catalog(path: Path) -> dict[str, Any]:
    """Everything SQLite knows of a database's layout, apart from the migrations' dates."""
    db = sqlite3.connect(path)
    try:
        objects = db.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        tables = [name for kind, name, _, _ in objects if kind == "table"]
        return {
            "objects": objects,
            "columns": {t: db.execute(f"PRAGMA table_info({t})").fetchall() for t in tables},
            "indexes": {t: db.execute(f"PRAGMA index_list({t})").fetchall() for t in tables},
            "user_version": db.execute("PRAGMA user_version").fetchone(),
            "versions": db.execute("SELECT version FROM conveyor_schema_version").fetchall(),
        }
    finally:
        db.close()


@pytest.fixture
def sqlite_path(conveyor_env: conveyor.Config, tmp_path: Path) -> Path:
    """The database file the configured backend uses (nothing created in it yet)."""
    return tmp_path / "jobs.sqlite3"


def test_a_sqlite_store_of_the_last_release_opens_with_every_job_intact_and_runnable(
    sqlite_path: Path,
) -> None:
    now = time.time()
    rows = legacy_rows(config.current().queue_prefix + QUEUE, now)
    create_legacy_sqlite(sqlite_path, rows)
    store = SQLiteBackend(sqlite_path)
    try:
        assert sqlite_catalog(sqlite_path)["versions"] == ALL_APPLIED
        assert_intact_and_runnable(store, {row["id"]: expected(row) for row in rows}, now)
    finally:
        store.close()


def test_a_migrated_sqlite_store_has_the_layout_of_a_fresh_one(
    sqlite_path: Path, tmp_path: Path
) -> None:
    create_legacy_sqlite(sqlite_path, legacy_rows("conveyor:site:default", time.time()))
    SQLiteBackend(sqlite_path).close()
    fresh = tmp_path / "fresh.sqlite3"
    SQLiteBackend(fresh).close()
    migrated = sqlite_catalog(sqlite_path)
    assert migrated == sqlite_catalog(fresh)
    assert "options" in {column[1] for column in migrated["columns"]["conveyor_jobs"]}


def test_concurrent_first_opens_of_an_old_sqlite_store_migrate_it_once(
    sqlite_path: Path,
) -> None:
    create_legacy_sqlite(sqlite_path, legacy_rows("conveyor:site:default", time.time()))
    for store in open_at_once(lambda: SQLiteBackend(sqlite_path)):
        store.close()
    assert sqlite_catalog(sqlite_path)["versions"] == ALL_APPLIED


def test_a_sqlite_store_newer_than_this_conveyor_is_refused_and_left_alone(
    sqlite_path: Path,
) -> None:
    SQLiteBackend(sqlite_path).close()
    db = sqlite3.connect(sqlite_path)
    with db:
        db.execute("INSERT INTO conveyor_schema_version VALUES (?, 0)", (LATEST_SQL + 1,))
    db.close()
    before = sqlite_catalog(sqlite_path)
    with pytest.raises(StoreVersionError) as raised:
        SQLiteBackend(sqlite_path)
    assert str(raised.value) == (
        f"The conveyor store SQLite database {sqlite_path} is at layout version"
        f" {LATEST_SQL + 1}, but this conveyor knows versions up to {LATEST_SQL}:"
        " a newer conveyor wrote it; upgrade conveyor to open it"
    )
    assert (raised.value.found, raised.value.known) == (LATEST_SQL + 1, LATEST_SQL)
    assert sqlite_catalog(sqlite_path) == before


def with_a_later_migration(store: str, sql: str) -> tuple[Migration, ...]:
    """The store's migrations and one more, as the next release would ship it."""
    known = migrations.migrations(store)
    return (*known, Migration(len(known) + 1, "test_only", sql))


def test_a_later_migration_is_applied_once_and_then_required(
    sqlite_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    SQLiteBackend(sqlite_path).close()
    later = with_a_later_migration(
        "sqlite", "ALTER TABLE conveyor_jobs ADD COLUMN test_only TEXT; -- one; two\n"
    )
    monkeypatch.setattr(migrations, "migrations", lambda store: later)
    SQLiteBackend(sqlite_path).close()
    SQLiteBackend(sqlite_path).close()  # up to date: nothing applied twice
    layout = sqlite_catalog(sqlite_path)
    assert layout["versions"] == [*ALL_APPLIED, (LATEST_SQL + 1,)]
    assert "test_only" in {column[1] for column in layout["columns"]["conveyor_jobs"]}
    monkeypatch.undo()
    with pytest.raises(StoreVersionError, match=f"at layout version {LATEST_SQL + 1}, but"):
        SQLiteBackend(sqlite_path)


def test_a_failing_migration_leaves_the_store_as_it_was(
    sqlite_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    SQLiteBackend(sqlite_path).close()
    before = sqlite_catalog(sqlite_path)
    later = with_a_later_migration(
        "sqlite", "CREATE TABLE conveyor_half (x INTEGER); INSERT INTO no_such_table VALUES (1);"
    )
    monkeypatch.setattr(migrations, "migrations", lambda store: later)
    with pytest.raises(conveyor.BackendError, match="no_such_table"):
        SQLiteBackend(sqlite_path)
    assert sqlite_catalog(sqlite_path) == before


def test_migration_files_must_be_numbered_from_one_without_gaps(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("not a migration")
    (tmp_path / "0002_second.sql").write_text("SELECT 2;")
    (tmp_path / "0001_first.sql").write_text("SELECT 1;")
    assert [(m.version, m.name, m.sql) for m in migrations.load(tmp_path)] == [
        (1, "first", "SELECT 1;"),
        (2, "second", "SELECT 2;"),
    ]
    (tmp_path / "0004_fourth.sql").write_text("SELECT 4;")
    with pytest.raises(RuntimeError, match=r"numbered \[1, 2, 4\], not 1, 2, 3"):
        migrations.load(tmp_path)


def test_a_misnamed_migration_file_is_refused_rather_than_skipped(tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("SELECT 1;")
    (tmp_path / "002_second.sql").write_text("SELECT 2;")
    with pytest.raises(RuntimeError, match=r"'002_second\.sql' is not named NNNN_what_it_does"):
        migrations.load(tmp_path)


def test_the_shipped_migrations_of_both_sql_stores_go_in_step() -> None:
    sqlite = [(m.version, m.name) for m in migrations.migrations("sqlite")]
    assert sqlite == [(m.version, m.name) for m in migrations.migrations("postgresql")]
    assert sqlite[:2] == [(1, "initial"), (2, "job_options")]


# -- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture
def on_postgresql(postgresql_url: str) -> Iterator[str]:
    with config.override({"conveyor.backend": postgresql_url}):
        yield postgresql_url


def split_schema(url: str) -> tuple[str, str]:
    server, _, schema = url.partition("?schema=")
    return server, schema


def create_legacy_postgresql(url: str, rows: list[dict[str, Any]]) -> None:
    """A schema as the last release created and left it: 0001's SQL, recording version 1."""
    psycopg = pytest.importorskip("psycopg")
    server, schema = split_schema(url)
    with psycopg.connect(server) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'SET search_path = "{schema}"')
        conn.execute(migrations.migrations("postgresql")[0].sql.encode())
        for row in rows:  # claim order, as the last release numbered queued jobs
            if row["state"] == "queued":
                position = conn.execute("SELECT nextval('conveyor_jobs_position')").fetchone()
                assert position is not None
                row["position"] = position[0]
        insert(conn.execute, rows, mark=lambda name: f"%({name})s")


def postgresql_catalog(server: str, schema: str) -> dict[str, list[tuple[str, ...]]]:
    """What a schema holds, its name taken out, to compare two schemas."""
    psycopg = pytest.importorskip("psycopg")
    queries = {
        "columns": "SELECT table_name, column_name, ordinal_position, data_type, is_nullable,"
        " column_default, collation_name FROM information_schema.columns"
        " WHERE table_schema = %(s)s",
        "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %(s)s",
        "constraints": "SELECT c.conrelid::regclass::text, c.conname,"
        " pg_get_constraintdef(c.oid) FROM pg_constraint c"
        " JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = %(s)s",
        "relations": "SELECT c.relname, c.relkind FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(s)s",
        "versions": 'SELECT version FROM "{schema}".conveyor_schema_version',
    }
    found: dict[str, list[tuple[str, ...]]] = {}
    with psycopg.connect(server) as conn:
        for name, text in queries.items():
            rows = conn.execute(text.replace("{schema}", schema), {"s": schema}).fetchall()
            found[name] = sorted(
                tuple(str(value).replace(f'"{schema}".', "").replace(f"{schema}.", "")
                      for value in row)
                for row in rows
            )  # fmt: skip
    return found


def test_a_postgresql_store_of_the_last_release_opens_with_every_job_intact_and_runnable(
    on_postgresql: str,
) -> None:
    now = time.time()
    rows = legacy_rows(config.current().queue_prefix + QUEUE, now)
    create_legacy_postgresql(on_postgresql, rows)
    store = open_backend(on_postgresql)
    try:
        server, schema = split_schema(on_postgresql)
        versions = postgresql_catalog(server, schema)["versions"]
        assert versions == [(str(v),) for v in range(1, migrations.latest("postgresql") + 1)]
        assert_intact_and_runnable(store, {row["id"]: expected(row) for row in rows}, now)
    finally:
        store.close()


def test_a_migrated_postgresql_store_has_the_layout_of_a_fresh_one(postgresql_url: str) -> None:
    create_legacy_postgresql(postgresql_url, legacy_rows("conveyor:site:default", time.time()))
    open_backend(postgresql_url).close()
    server, schema = split_schema(postgresql_url)
    fresh = f"cvtest_{uuid.uuid4().hex[:12]}"
    psycopg = pytest.importorskip("psycopg")
    try:
        open_backend(f"{server}?schema={fresh}").close()
        migrated = postgresql_catalog(server, schema)
        assert migrated == postgresql_catalog(server, fresh)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{fresh}" CASCADE')
    assert ("conveyor_jobs", "options") in {row[:2] for row in migrated["columns"]}


def test_create_tables_migrates_an_old_schema_in_the_applications_transaction(
    postgresql_url: str,
) -> None:
    psycopg = pytest.importorskip("psycopg")
    from conveyor.backends.postgresql import SCHEMA_VERSION, create_tables

    now = time.time()
    rows = legacy_rows("conveyor:site:default", now)
    create_legacy_postgresql(postgresql_url, rows)
    server, schema = split_schema(postgresql_url)
    with psycopg.connect(server, options=f"-c search_path={schema}") as conn:
        conn.execute("SELECT 1")  # the application's transaction has begun
        create_tables(conn)
        conn.rollback()  # the application changed its mind: nothing was migrated
        assert postgresql_catalog(server, schema)["versions"] == [("1",)]
        create_tables(conn)
        conn.commit()
    layout = postgresql_catalog(server, schema)
    assert layout["versions"] == [(str(v),) for v in range(1, SCHEMA_VERSION + 1)]
    store = open_backend(postgresql_url)
    try:
        for row in rows:
            assert store.get(row["id"]) == expected(row)
    finally:
        store.close()


def test_concurrent_first_opens_of_an_old_postgresql_schema_migrate_it_once(
    postgresql_url: str,
) -> None:
    create_legacy_postgresql(postgresql_url, legacy_rows("conveyor:site:default", time.time()))
    for store in open_at_once(lambda: open_backend(postgresql_url)):
        store.close()
    server, schema = split_schema(postgresql_url)
    versions = postgresql_catalog(server, schema)["versions"]
    assert versions == [(str(v),) for v in range(1, migrations.latest("postgresql") + 1)]


# -- Redis ---------------------------------------------------------------------------------


@pytest.fixture
def on_redis(redis_url: str) -> Iterator[str]:
    with config.override({"conveyor.backend": redis_url}):
        yield redis_url


def redis_client() -> Any:
    redis = pytest.importorskip("redis")
    return redis.Redis(host="127.0.0.1", port=6379)


def layout_version() -> int:
    """The Redis layout version of this code (its module imports only with the driver)."""
    pytest.importorskip("redis")
    from conveyor.backends.redis import LAYOUT_VERSION

    return LAYOUT_VERSION


def version_key(url: str) -> str:
    return url.rpartition("namespace=")[2] + ":version"


def test_a_redis_store_of_the_last_release_opens_with_every_job_intact_and_runnable(
    on_redis: str,
) -> None:
    LAYOUT_VERSION = layout_version()
    now = time.time()
    rows = legacy_rows(config.current().queue_prefix + QUEUE, now)
    client = redis_client()
    try:
        writer = open_backend(on_redis)
        assert int(client.get(version_key(on_redis))) == LAYOUT_VERSION
        before = write_the_current_way(writer, rows, now)
        writer.close()
        client.delete(version_key(on_redis))  # as the last release left the store
        store = open_backend(on_redis)
        assert int(client.get(version_key(on_redis))) == LAYOUT_VERSION
        assert_intact_and_runnable(store, before, now)
        store.close()
    finally:
        client.close()


def write_the_current_way(
    store: Backend, rows: list[dict[str, Any]], now: float
) -> dict[str, JobRecord]:
    """Each row's job, brought to the row's state through the backend; the records written."""
    # Jobs that leave the queue first, so each claim takes the job just enqueued.
    for row in sorted(rows, key=lambda row: row["state"] == "queued"):
        job = NewJob(
            id=row["id"],
            queue=row["queue"],
            func=row["func"],
            payload=row["payload"],
            created_at=row["created_at"],
            timeout=row["timeout"],
            title=row["title"],
            description=row["description"],
            meta=json.loads(row["meta"]),
            max_attempts=row["max_attempts"],
            retry=json.loads(row["retry"]) if row["retry"] else None,
        )
        store.enqueue([job], now=row["enqueued_at"])
        if row["state"] == "queued":
            continue
        started = row["started_at"]
        lease = (row["lease_expires_at"] or now) - started
        [claimed] = store.claim([row["queue"]], worker=row["worker"], lease=lease, now=started)
        token = claimed.lease_token or ""
        if row["state"] == "finished":
            done = Completion(row["id"], token, JobState.FINISHED, result=row["result"])
        elif row["state"] == "failed":
            error = ErrorInfo.from_dict(json.loads(row["errors"])[0])
            done = Completion(row["id"], token, JobState.FAILED, error=error)
        else:
            continue
        assert store.complete([done], now=row["ended_at"]) == [True]
    return {row["id"]: stored(store, row["id"]) for row in rows}


def stored(store: Backend, job_id: str) -> JobRecord:
    record = store.get(job_id)
    assert record is not None
    return record


def test_a_new_redis_store_is_marked_with_the_current_layout(redis_url: str) -> None:
    LAYOUT_VERSION = layout_version()
    client = redis_client()
    try:
        assert client.get(version_key(redis_url)) is None
        open_backend(redis_url).close()
        assert int(client.get(version_key(redis_url))) == LAYOUT_VERSION
    finally:
        client.close()


def test_a_redis_store_newer_than_this_conveyor_is_refused_and_left_alone(redis_url: str) -> None:
    LAYOUT_VERSION = layout_version()
    client = redis_client()
    try:
        open_backend(redis_url).close()
        client.set(version_key(redis_url), LAYOUT_VERSION + 1)
        with pytest.raises(StoreVersionError) as raised:
            open_backend(redis_url)
        namespace = version_key(redis_url).rpartition(":")[0]
        assert str(raised.value) == (
            f"The conveyor store in Redis at 127.0.0.1:6379/0, namespace {namespace} is at"
            f" layout version {LAYOUT_VERSION + 1}, but this conveyor knows versions up to"
            f" {LAYOUT_VERSION}: a newer conveyor wrote it; upgrade conveyor to open it"
        )
        assert int(client.get(version_key(redis_url))) == LAYOUT_VERSION + 1
    finally:
        client.close()


def test_a_redis_version_key_that_is_not_a_number_is_reported(redis_url: str) -> None:
    client = redis_client()
    try:
        client.set(version_key(redis_url), "two")
        with pytest.raises(conveyor.BackendError, match="holds b'two', not a conveyor layout"):
            open_backend(redis_url)
    finally:
        client.close()


# -- Migration 0005: kept counts and per-minute statistics ----------------------------------


def rows_in_every_state(queue: str, now: float) -> list[dict[str, Any]]:
    """The legacy rows, and a scheduled and a canceled one: a job in every state."""
    return [
        *legacy_rows(queue, now),
        columns("s1", "scheduled", queue, now, run_at=now + 3600),
        columns("c1", "canceled", queue, now, attempts=1, started_at=now - 50, ended_at=now - 40,
                worker="old-host:1:w", expires_at=now + 9_000),
    ]  # fmt: skip


EVERY_STATE_COUNTS = {
    JobState.QUEUED: 2,
    JobState.STARTED: 2,
    JobState.FINISHED: 1,
    JobState.FAILED: 1,
    JobState.SCHEDULED: 1,
    JobState.CANCELED: 1,
}


def assert_counts_kept_from_the_old_rows(store: Backend, queue: str, now: float) -> None:
    """The counts the migration set up agree with the old rows, and keep agreeing as jobs move."""
    assert store.count([queue]) == {queue: EVERY_STATE_COUNTS}
    assert store.list_jobs([queue], states=list(JobState), limit=1).total == 8
    assert store.queue_names(queue.rpartition(":")[0] + ":") == [queue]
    claimed = store.claim([queue], worker="new-host:1:w", lease=60, now=now, limit=2)
    assert [record.id for record in claimed] == ["q1", "q2"]
    done = Completion("q1", claimed[0].lease_token or "", JobState.FINISHED, result=b"r")
    assert store.complete([done], now=now + 1) == [True]
    moved = dict(EVERY_STATE_COUNTS)
    moved.update({JobState.QUEUED: 0, JobState.STARTED: 3, JobState.FINISHED: 2})
    assert store.count([queue]) == {queue: {s: n for s, n in moved.items() if n}}
    [minute] = store.stats(queue.rpartition(":")[0] + ":", since=now - 60, until=now + 60)
    assert (minute.queue, minute.finished, minute.failed) == (queue, 1, 0)


def test_a_sqlite_store_of_the_last_release_gets_counts_from_its_rows(sqlite_path: Path) -> None:
    now = time.time()
    queue = config.current().queue_prefix + QUEUE
    create_legacy_sqlite(sqlite_path, rows_in_every_state(queue, now))
    store = SQLiteBackend(sqlite_path)
    try:
        assert_counts_kept_from_the_old_rows(store, queue, now)
    finally:
        store.close()


def test_a_postgresql_store_of_the_last_release_gets_counts_from_its_rows(
    on_postgresql: str,
) -> None:
    now = time.time()
    queue = config.current().queue_prefix + QUEUE
    create_legacy_postgresql(on_postgresql, rows_in_every_state(queue, now))
    store = open_backend(on_postgresql)
    try:
        assert_counts_kept_from_the_old_rows(store, queue, now)
    finally:
        store.close()


def test_a_redis_store_of_the_last_release_counts_right(on_redis: str) -> None:
    now = time.time()
    queue = config.current().queue_prefix + QUEUE
    client = redis_client()
    try:
        writer = open_backend(on_redis)
        rows = [row for row in rows_in_every_state(queue, now) if row["state"] != "scheduled"]
        write_the_current_way(writer, rows, now)
        writer.enqueue([NewJob(id="s1", queue=queue, func="m:f", payload=b"p", created_at=now,
                               timeout=60, run_at=now + 3600)], now=now)  # fmt: skip
        writer.close()
        client.delete(version_key(on_redis))  # as the last release left the store
        store = open_backend(on_redis)
        assert store.cancel("c1", now=now) is not None  # started -> canceled
        assert store.count([queue]) == {queue: EVERY_STATE_COUNTS}
        assert store.list_jobs([queue], states=list(JobState), limit=1).total == 8
        store.close()
    finally:
        client.delete(version_key(on_redis))
        client.close()
