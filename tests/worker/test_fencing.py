"""Never twice at once, never stuck: whole process trees, fenced children, deadlines.

Each test here reproduces one finding of issue 15 with real worker processes:
a job that forks and dies or times out (its grandchild holds the child's
pipe), a supervisor stopped while its child runs past the lease, and a
store locked while a job reaches its timeout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import conveyor
import conveyor_test_jobs as test_jobs
import fencing_jobs
from conveyor import JobState
from conveyor.backends import open_backend
from support import SHORT_LEASE as LEASE
from support import (
    WorkerProcess,
    free_port,
    is_gone,
    lines,
    state_of,
    wait_until,
)


@pytest.fixture
def grandchildren(tmp_path: Path) -> Iterator[Path]:
    """The log a forking job writes; any grandchild it names is killed at the end, by pid."""
    log = tmp_path / "fork.log"
    yield log
    for pid in grandchild_pids(log):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def grandchild_pids(log: Path) -> list[int]:
    """The pids the jobs forked, as each job logged them before going on (the grandchild's own
    line may never be written: its group can be killed first)."""
    if not log.exists():
        return []
    return [int(line.split()[3]) for line in lines(log) if " forked " in line]


def sibling_finished_untouched(sibling: conveyor.Job) -> None:
    """The job that ran beside the broken one kept its lease: one run, no error."""
    wait_until(lambda: state_of(sibling) is JobState.FINISHED, "the sibling job to finish")
    assert (sibling.attempts, sibling.errors) == (1, ())


# -- finding 3: a job that forks -----------------------------------------------------------------
def test_a_job_that_forks_then_dies_is_failed_and_its_grandchild_killed(
    start_worker: Callable[..., WorkerProcess], grandchildren: Path, tmp_path: Path
) -> None:
    sibling = conveyor.enqueue(fencing_jobs.beat, [str(tmp_path / "sibling.log"), 3])
    forking = conveyor.enqueue(fencing_jobs.fork_then_die, [str(grandchildren)], max_attempts=1)
    worker = start_worker("--concurrency", "2", CONVEYOR_WORKER_LEASE=str(LEASE))

    # Its grandchild still holds the child's pipe: the death is learned from the pid.
    wait_until(lambda: state_of(forking) is JobState.FAILED, "the forking job to fail")
    assert forking.error is not None
    assert forking.error.type == "ChildProcessDied"
    assert forking.error.message == "The job's process exited with code 9"
    (grandchild,) = grandchild_pids(grandchildren)
    wait_until(lambda: is_gone(grandchild), "the grandchild to be killed with its group")
    sibling_finished_untouched(sibling)
    after = conveyor.enqueue(test_jobs.echo, ["the slot is free"])
    wait_until(lambda: state_of(after) is JobState.FINISHED, "a job after it to run")
    assert worker.running()


def test_a_job_that_forks_and_times_out_is_failed_as_timed_out_and_its_group_killed(
    start_worker: Callable[..., WorkerProcess], grandchildren: Path, tmp_path: Path
) -> None:
    sibling = conveyor.enqueue(fencing_jobs.beat, [str(tmp_path / "sibling.log"), 4])
    forking = conveyor.enqueue(fencing_jobs.fork_then_sleep, [str(grandchildren), 60], timeout=1)
    worker = start_worker(
        "--concurrency", "2", CONVEYOR_WORKER_LEASE=str(LEASE), CONVEYOR_JOBS_TIMEOUT_GRACE="0.5"
    )

    wait_until(lambda: state_of(forking) is JobState.FAILED, "the forking job to time out")
    assert forking.attempts == 1  # failed as timed out, never retried as "worker lost"
    assert [e.type for e in forking.errors] == ["JobTimeoutError"]
    (grandchild,) = grandchild_pids(grandchildren)
    wait_until(lambda: is_gone(grandchild), "the grandchild to be killed with its group")
    sibling_finished_untouched(sibling)
    assert "lost by its worker" not in worker.stderr
    after = conveyor.enqueue(test_jobs.echo, ["the slot is free"])
    wait_until(lambda: state_of(after) is JobState.FINISHED, "a job after it to run")


# -- finding 2: a stopped supervisor ------------------------------------------------------------
@pytest.fixture
def store(store_kind_url: str) -> Iterator[str]:
    """Each store in turn, configured for this process; its URL for the workers."""
    with conveyor.config.override({"conveyor.backend": store_kind_url}):
        yield store_kind_url


@pytest.mark.slow
def test_a_stopped_supervisors_child_stops_itself_before_another_worker_reruns_its_job(
    start_worker: Callable[..., WorkerProcess], store: str, tmp_path: Path
) -> None:
    lock, log = tmp_path / "job.lock", tmp_path / "runs.log"
    job = conveyor.enqueue(fencing_jobs.exclusive_run, [str(lock), str(log), 6])
    env = {"CONVEYOR_BACKEND": store, "CONVEYOR_WORKER_LEASE": str(LEASE)}
    stopped = start_worker(**env)
    wait_until(lambda: log.exists() and lines(log)[0].startswith("start "), "the job to start")
    first_pid = int(lines(log)[0].split()[1])
    stopped_key = stopped.key

    stopped.signal(signal.SIGSTOP)
    try:
        rescuer = start_worker(**env)
        wait_until(lambda: len(lines(log)) >= 2, "another worker to run the job again")
        assert is_gone(first_pid)
        wait_until(lambda: state_of(job) is JobState.FINISHED, "the second run to finish")
    finally:
        stopped.signal(signal.SIGCONT)

    second_pid = job.result
    assert lines(log) == [f"start {first_pid}", f"start {second_pid}", f"end {second_pid}"]
    refused = f"Outcome of job {job.id} was not recorded: its lease was lost"
    wait_until(lambda: refused in stopped.stderr, "the resumed worker's late outcome refused")
    assert "stopped itself: its lease was not renewed in time" in stopped.stderr
    assert state_of(job) is JobState.FINISHED
    assert job.worker == rescuer.key
    assert job.attempts == 2
    assert [e.type for e in job.errors] == ["WorkerLost"]
    assert stopped_key in job.errors[0].message
    assert stopped.running()


# -- finding 4: deadlines while the store is locked ----------------------------------------
@contextlib.contextmanager
def sqlite_locked(url: str) -> Iterator[None]:
    """Hold SQLite's write lock from a connection of our own."""
    connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


@contextlib.contextmanager
def postgresql_locked(url: str) -> Iterator[None]:
    """Hold an ACCESS EXCLUSIVE lock on the jobs table of the test's schema."""
    import psycopg

    server, schema = url.split("?schema=")
    with psycopg.connect(server) as connection:
        connection.execute(f'LOCK TABLE "{schema}".conveyor_jobs IN ACCESS EXCLUSIVE MODE')
        yield
        connection.rollback()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A redis-server of this test's own (freezing the shared one would stall other runs)."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed: the frozen-Redis test cannot run")
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0?namespace=fencing"
        wait_until(lambda: _answers(port), "the private redis-server to start")
        yield url, process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
        process.kill()
        process.wait(10)


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")
    return False


@pytest.fixture(params=["sqlite", "redis", "postgresql"])
def lockable_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, Callable[[], contextlib.AbstractContextManager[None]]]]:
    """A store URL, and how to lock (or freeze) that store for a while."""
    url: str
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'locked.sqlite3'}"
        yield url, lambda: sqlite_locked(url)
    elif request.param == "postgresql":
        url = request.getfixturevalue("postgresql_url")
        yield url, lambda: postgresql_locked(url)
    else:
        url, pid = request.getfixturevalue("private_redis")
        yield url, lambda: frozen(pid)


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """Stop a process (our own redis-server) for a while."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def beats(log: Path) -> list[float]:
    return [float(line.split()[1]) for line in lines(log) if line.startswith("beat ")]


TIMEOUT, GRACE = 4, 0.5


@pytest.mark.slow
def test_a_job_past_its_timeout_is_killed_while_the_store_is_locked(
    start_worker: Callable[..., WorkerProcess],
    lockable_store: tuple[str, Callable[[], contextlib.AbstractContextManager[None]]],
    tmp_path: Path,
) -> None:
    url, lock = lockable_store
    log = tmp_path / "beats.log"
    with conveyor.config.override({"conveyor.backend": url}):
        job = conveyor.enqueue(fencing_jobs.beat, [str(log), 60], timeout=TIMEOUT)
        worker = start_worker(CONVEYOR_BACKEND=url, CONVEYOR_JOBS_TIMEOUT_GRACE=str(GRACE))
        wait_until(lambda: len(beats(log)) >= 1, "the job to start")
        with lock():
            killed_by = beats(log)[0] + TIMEOUT + GRACE + 1.0
            wait_until(lambda: time.monotonic() > killed_by + 1.0, "the deadline to pass")
            assert "timeout exception ignored" in lines(log)
            assert beats(log)[-1] < killed_by  # it stopped within a second of its deadline
            assert worker.running()
        wait_until(lambda: state_of(job) is JobState.FAILED, "the job to be failed")
        assert job.attempts == 1
        assert [e.type for e in job.errors] == ["JobTimeoutError"]
    assert is_gone(int(lines(log)[0].split()[1]))


# -- every store call has its own bound ------------------------------------------------------
def test_every_postgresql_session_bounds_its_statements_and_lock_waits(
    postgresql_url: str,
) -> None:
    store = open_backend(postgresql_url)
    try:
        with store._session() as conn:
            lock = conn.execute("SHOW lock_timeout").fetchone()
            statement = conn.execute("SHOW statement_timeout").fetchone()
    finally:
        store.close()
    assert lock is not None
    assert statement is not None
    assert (lock["lock_timeout"], statement["statement_timeout"]) == ("20s", "1min")


def test_a_postgresql_url_may_set_its_own_bounds(postgresql_url: str) -> None:
    store = open_backend(f"{postgresql_url}&options=--statement_timeout%3D5s")
    try:
        with store._session() as conn:
            row = conn.execute("SHOW statement_timeout").fetchone()
            assert row is not None
            assert row["statement_timeout"] == "5s"
    finally:
        store.close()


def test_every_redis_connection_detects_a_dead_peer(redis_url: str) -> None:
    """TCP keepalive and TCP_USER_TIMEOUT bound a call to a Redis gone from the network."""
    store: Any = open_backend(redis_url)
    try:
        kwargs = store._redis.connection_pool.connection_kwargs
        assert kwargs["socket_keepalive"] is True
        options = kwargs["socket_keepalive_options"]
        assert options[socket.TCP_USER_TIMEOUT] == 30_000
        assert options[socket.TCP_KEEPIDLE] * 2 <= 30
    finally:
        store.close()
