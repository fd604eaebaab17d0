"""What only the SQLite backend does: its URL, its file, and many processes on one file.

The behaviour every backend shares is in test_backend_conformance.py.
"""

from __future__ import annotations

import collections
import dataclasses
import multiprocessing
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.backends import JobState, NewJob, open_backend
from conveyor.backends.base import Completion
from conveyor.backends.sqlite import SQLiteBackend
from conveyor.exceptions import BackendError, BackendUnavailable, ConfigError, DuplicateJobError

QUEUES = ("conveyor:test.conveyor:high", "conveyor:test.conveyor:default")
PRODUCERS = 3
CONSUMERS = 3
JOBS_PER_PRODUCER = 1000


def job(job_id: str, queue: str = QUEUES[1]) -> NewJob:
    return NewJob(
        id=job_id,
        queue=queue,
        func="conveyor_test_jobs:succeed",
        payload=b"[[], {}]",
        created_at=time.time(),
        timeout=180,
    )


@pytest.fixture
def opened() -> Iterator[list[SQLiteBackend]]:
    """Backends a test opened; closed afterwards."""
    backends: list[SQLiteBackend] = []
    yield backends
    for backend in backends:
        backend.close()


def from_url(opened: list[SQLiteBackend], url: str, base_dir: Path | None = None) -> SQLiteBackend:
    backend = SQLiteBackend.from_url(url, base_dir=base_dir)
    opened.append(backend)
    return backend


def pragma(backend: SQLiteBackend, name: str) -> object:
    """A setting of the backend's own connection (some are per connection)."""
    return backend._db.execute(f"PRAGMA {name}").fetchone()[0]


# -- the URL -----------------------------------------------------------------------


def test_relative_path_resolves_against_the_base_dir(
    tmp_path: Path, opened: list[SQLiteBackend]
) -> None:
    base = tmp_path / "site"
    backend = from_url(opened, "sqlite:///data/jobs.sqlite3", base_dir=base)
    assert backend.path == base / "data" / "jobs.sqlite3"
    assert backend.path.is_file()


def test_relative_path_without_a_base_dir_resolves_against_the_working_directory(
    tmp_path: Path, opened: list[SQLiteBackend]
) -> None:
    backend = from_url(opened, "sqlite:///here.sqlite3")  # conftest made tmp_path the cwd
    assert backend.path == tmp_path / "here.sqlite3"
    assert backend.path.is_file()


def test_four_slashes_give_an_absolute_path(tmp_path: Path, opened: list[SQLiteBackend]) -> None:
    target = tmp_path / "absolute" / "jobs.sqlite3"
    url = f"sqlite:///{target}"
    assert url.startswith("sqlite:////")
    backend = from_url(opened, url, base_dir=tmp_path / "ignored")
    assert backend.path == target
    assert target.is_file()
    assert not (tmp_path / "ignored").exists()


def test_open_backend_chooses_sqlite_for_its_scheme(
    tmp_path: Path, opened: list[SQLiteBackend]
) -> None:
    backend = open_backend("sqlite:///jobs.sqlite3", base_dir=tmp_path)
    assert isinstance(backend, SQLiteBackend)
    opened.append(backend)
    assert backend.path == tmp_path / "jobs.sqlite3"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///:memory:",
        "sqlite://",
        "sqlite:///",
        "sqlite://somehost/jobs.sqlite3",
    ],
)
def test_url_without_a_shareable_file_is_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Invalid SQLite URL"):
        SQLiteBackend.from_url(url, base_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unknown_url_option_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Unknown SQLite URL option\(s\) \['journal_mode'\]"):
        SQLiteBackend.from_url("sqlite:///jobs.sqlite3?journal_mode=delete", base_dir=tmp_path)
    assert not (tmp_path / "jobs.sqlite3").exists()


@pytest.mark.parametrize("name", ["synchronous", "busy_timeout"])
def test_malformed_url_option_is_refused(name: str, tmp_path: Path) -> None:
    query = f"{name}=sometimes"
    with pytest.raises(ConfigError, match=f"Invalid {name}"):
        SQLiteBackend.from_url(f"sqlite:///jobs.sqlite3?{query}", base_dir=tmp_path)


@pytest.mark.parametrize(
    ("query", "level"),
    [("", 1), ("?synchronous=normal", 1), ("?synchronous=FULL", 2), ("?synchronous=off", 0)],
)
def test_synchronous_option_sets_the_durability_level(
    query: str, level: int, tmp_path: Path, opened: list[SQLiteBackend]
) -> None:
    backend = from_url(opened, f"sqlite:///jobs.sqlite3{query}", base_dir=tmp_path)
    assert pragma(backend, "synchronous") == level


def test_busy_timeout_option_sets_how_long_a_locked_database_is_waited_for(
    tmp_path: Path, opened: list[SQLiteBackend]
) -> None:
    backend = from_url(opened, "sqlite:///jobs.sqlite3?busy_timeout=2.5", base_dir=tmp_path)
    assert pragma(backend, "busy_timeout") == 2500


# -- the file ----------------------------------------------------------------------


def test_database_file_is_in_wal_mode(tmp_path: Path, opened: list[SQLiteBackend]) -> None:
    backend = from_url(opened, "sqlite:///jobs.sqlite3", base_dir=tmp_path)
    # WAL is a property of the file: a plain connection sees it too.
    with sqlite3.connect(backend.path) as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    plain.close()


def test_jobs_survive_reopening_the_database(tmp_path: Path) -> None:
    first = SQLiteBackend(tmp_path / "jobs.sqlite3")
    first.enqueue([job("kept")], now=100.0)
    first.close()
    again = SQLiteBackend(tmp_path / "jobs.sqlite3")
    try:
        record = again.get("kept")
        assert record is not None
        assert (record.state, record.enqueued_at) == (JobState.QUEUED, 100.0)
    finally:
        again.close()


def test_missing_directories_are_created(tmp_path: Path, opened: list[SQLiteBackend]) -> None:
    backend = from_url(opened, "sqlite:///a/b/c/jobs.sqlite3", base_dir=tmp_path)
    backend.enqueue([job("j1")], now=1.0)
    assert (tmp_path / "a" / "b" / "c" / "jobs.sqlite3").is_file()


def test_directory_that_cannot_exist_is_reported_with_its_path(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the directory should be")
    target = blocker / "jobs.sqlite3"
    with pytest.raises(BackendUnavailable) as caught:
        open_backend(f"sqlite:///{target}")
    assert str(target) in str(caught.value)


def test_path_that_is_a_directory_is_reported_with_its_path(tmp_path: Path) -> None:
    target = tmp_path / "jobs.sqlite3"
    target.mkdir()
    with pytest.raises(BackendError) as caught:
        SQLiteBackend(target)
    assert str(target) in str(caught.value)


def test_file_that_is_not_a_database_is_reported_with_its_path(tmp_path: Path) -> None:
    target = tmp_path / "jobs.sqlite3"
    target.write_bytes(b"this is no SQLite database, only some text " * 100)
    with pytest.raises(BackendError) as caught:
        SQLiteBackend(target)
    assert str(target) in str(caught.value)
    assert target.read_bytes().startswith(b"this is no SQLite database")


# -- many processes, one file ------------------------------------------------------


def produce(path: str, producer: int, count: int) -> None:
    """Enqueue ``count`` jobs in batches of one to five, over both queues."""
    backend = SQLiteBackend(Path(path))
    try:
        n = 0
        while n < count:
            size = min(1 + n % 5, count - n)
            batch = [job(f"p{producer}-{i}", QUEUES[i % 2]) for i in range(n, n + size)]
            backend.enqueue(batch, now=time.time())
            n += size
    finally:
        backend.close()


def consume(path: str, consumer: int, claimed_file: str, producers_done: str) -> None:
    """Claim and finish jobs until the producers are done and nothing is left.

    Every claimed id is written to ``claimed_file`` as soon as it is claimed.
    """
    backend = SQLiteBackend(Path(path))
    name = f"consumer-{consumer}"
    deadline = time.monotonic() + 100
    try:
        with open(claimed_file, "a", encoding="utf-8") as out:
            while time.monotonic() < deadline:
                done = Path(producers_done).exists()  # read before claiming: no race
                claimed = backend.claim(
                    QUEUES, worker=name, lease=600, now=time.time(), limit=1 + consumer, wait=0.05
                )
                if not claimed and done:
                    return
                out.writelines(f"{record.id}\n" for record in claimed)
                out.flush()
                assert all(r.state is JobState.STARTED and r.worker == name for r in claimed)
                finished = [
                    Completion(r.id, r.lease_token or "", JobState.FINISHED, result=b"null")
                    for r in claimed
                ]
                assert all(backend.complete(finished, now=time.time()))
        raise TimeoutError(f"{name} did not finish in time")
    finally:
        backend.close()


@pytest.mark.slow
def test_many_producer_and_consumer_processes_lose_and_double_claim_nothing(
    tmp_path: Path,
) -> None:
    database = tmp_path / "shared.sqlite3"
    SQLiteBackend(database).close()  # create the schema once, before the race
    producers_done = tmp_path / "producers-done"
    claimed_files = [tmp_path / f"claimed-{n}.txt" for n in range(CONSUMERS)]
    context = multiprocessing.get_context("spawn")
    consumers = [
        context.Process(
            target=consume, args=(str(database), n, str(claimed_files[n]), str(producers_done))
        )
        for n in range(CONSUMERS)
    ]
    producers = [
        context.Process(target=produce, args=(str(database), n, JOBS_PER_PRODUCER))
        for n in range(PRODUCERS)
    ]
    try:
        for process in consumers + producers:
            process.start()
        for process in producers:
            process.join(timeout=100)
            assert process.exitcode == 0, "a producer failed"
        producers_done.touch()
        for process in consumers:
            process.join(timeout=100)
            assert process.exitcode == 0, "a consumer failed"
    finally:
        for process in consumers + producers:
            if process.is_alive():
                process.kill()
                process.join(timeout=10)

    expected = {f"p{p}-{i}" for p in range(PRODUCERS) for i in range(JOBS_PER_PRODUCER)}
    claims = collections.Counter(
        line for path in claimed_files for line in path.read_text(encoding="utf-8").splitlines()
    )
    assert set(claims) == expected, "jobs were lost (or invented)"
    assert [job_id for job_id, times in claims.items() if times > 1] == []
    backend = SQLiteBackend(database)
    try:
        counts = backend.count(QUEUES)
    finally:
        backend.close()
    assert sum(counts[q].get(JobState.FINISHED, 0) for q in QUEUES) == len(expected)
    assert all(set(counts[q]) == {JobState.FINISHED} for q in QUEUES)


# -- one job alone: one statement -----------------------------------------------------


def test_jobs_enqueued_one_at_a_time_and_in_batches_keep_one_order(
    tmp_path: Path, opened: list[SQLiteBackend]
) -> None:
    backend = SQLiteBackend(tmp_path / "order.db")
    opened.append(backend)
    now = time.time()

    def front(job_id: str) -> NewJob:
        return dataclasses.replace(job(job_id), at_front=True)

    backend.enqueue([job("b1")], now=now)  # an empty queue: alone, at the back
    backend.enqueue([front("f1")], now=now)  # alone, at the front
    backend.enqueue([job("b2"), front("f2"), job("b3")], now=now)  # a batch
    backend.enqueue([job("b4")], now=now)
    backend.enqueue([front("f3")], now=now)
    backend.enqueue([job("x", QUEUES[0])], now=now)  # another queue: its own end
    claimed = backend.claim([QUEUES[1]], worker="w", lease=30, now=now, limit=20)
    assert [record.id for record in claimed] == ["f3", "f2", "f1", "b1", "b2", "b3", "b4"]


def test_one_job_alone_with_a_taken_id_changes_nothing_and_an_ended_id_is_reused(
    tmp_path: Path, opened: list[SQLiteBackend]
) -> None:
    backend = SQLiteBackend(tmp_path / "ids.db")
    opened.append(backend)
    now = time.time()
    backend.enqueue([job("taken"), job("done")], now=now)
    with pytest.raises(DuplicateJobError, match="taken"):
        backend.enqueue([job("taken", QUEUES[0])], now=now)
    taken = backend.get("taken")
    assert taken is not None
    assert (taken.state, taken.queue) == (JobState.QUEUED, QUEUES[1])
    claimed = backend.claim([QUEUES[1]], worker="w", lease=30, now=now, limit=2)
    done = next(record for record in claimed if record.id == "done")
    assert done.lease_token is not None
    backend.complete([Completion("done", done.lease_token, JobState.FINISHED)], now=now)
    backend.enqueue([job("done", QUEUES[0])], now=now)  # the ended record is replaced
    again = backend.get("done")
    assert again is not None
    assert (again.state, again.queue) == (JobState.QUEUED, QUEUES[0])
