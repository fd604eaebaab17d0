"""No job lost, none stuck: real worker processes killed, paused and locked out.

Every worker here is a ``conveyor jobs worker`` subprocess with a two-second
lease, so lost jobs are recovered within seconds.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import conveyor
import conveyor_test_jobs as test_jobs
import execution_jobs
from conveyor import JobState
from support import (
    CONVEYOR,
    WAIT,
    WorkerProcess,
    is_gone,
    lines,
    state_of,
    wait_until,
)
from support import SHORT_LEASE as LEASE


@pytest.fixture
def worker_env(subprocess_env: dict[str, str]) -> dict[str, str]:
    """The subprocess environment with a short lease, for ``start_worker`` and burst runs."""
    return {**subprocess_env, "CONVEYOR_WORKER_LEASE": str(LEASE)}


def run_burst_worker(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CONVEYOR, "jobs", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


def finished_echo(text: str) -> None:
    """A new job runs to the end: the workers still consume."""
    job = conveyor.enqueue(test_jobs.echo, [text])
    wait_until(lambda: state_of(job) is JobState.FINISHED, f"the job {text!r} to finish")
    assert job.result == text


# -- a child dies ------------------------------------------------------------------------
def test_a_child_killed_mid_job_is_retried_and_its_worker_goes_on(
    start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    path, release = tmp_path / "job.txt", tmp_path / "release"
    job = conveyor.enqueue(test_jobs.wait_on_first_run, [str(path), str(release)])
    worker = start_worker()
    wait_until(lambda: len(lines(path)) == 1, "the job to start")
    child_pid = int(lines(path)[0])

    os.kill(child_pid, signal.SIGKILL)

    wait_until(lambda: state_of(job) is JobState.FINISHED, "the retried job to finish")
    assert job.attempts == 2
    assert [(e.type, e.attempt) for e in job.errors] == [("ChildProcessDied", 1)]
    assert job.errors[0].message == "The job's process was killed by signal 9"
    first, rerun, done = lines(path)
    assert (first, done) == (str(child_pid), "done")
    assert rerun != first
    assert is_gone(child_pid)
    assert f"Job {job.id} on worker {worker.name}: its process was killed by signal 9" in (
        worker.stderr
    )
    assert worker.running()
    finished_echo("after the crash")


# -- the supervisor dies -------------------------------------------------------------------
@pytest.mark.slow
def test_a_killed_supervisor_takes_its_child_along_and_another_worker_recovers_the_job(
    start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    path, release = tmp_path / "job.txt", tmp_path / "release"
    job = conveyor.enqueue(test_jobs.wait_on_first_run, [str(path), str(release)])
    lost = start_worker()
    wait_until(lambda: len(lines(path)) == 1, "the job to start")
    child_pid = int(lines(path)[0])
    lost_key = lost.key

    lost.signal(signal.SIGKILL)
    lost.process.wait(WAIT)

    wait_until(lambda: is_gone(child_pid), "the orphaned child to die with its supervisor")
    assert state_of(job) is JobState.STARTED  # no live worker has recovered it yet
    rescuer = start_worker()
    wait_until(lambda: state_of(job) is JobState.FINISHED, "the lost job to be rerun")
    assert job.attempts == 2
    assert job.worker == rescuer.key
    assert [(e.type, e.attempt) for e in job.errors] == [("WorkerLost", 1)]
    assert job.errors[0].message == (
        f"Worker {lost_key} was lost while running the job (its lease expired)"
    )
    assert (
        f"Job {job.id} was lost by its worker (lease expired); requeued (attempt 1)"
        in rescuer.stderr
    )
    first, rerun, done = lines(path)  # the orphan never got to write "done"
    assert (first, done) == (str(child_pid), "done")
    assert rerun != first


# -- a worker pauses past its lease ------------------------------------------------------------
@pytest.mark.slow
def test_a_worker_paused_past_its_lease_cannot_record_its_late_completion(
    start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    path, release = tmp_path / "job.txt", tmp_path / "release"
    job = conveyor.enqueue(test_jobs.wait_on_first_run, [str(path), str(release)])
    paused = start_worker()
    wait_until(lambda: len(lines(path)) == 1, "the job to start")
    paused_key = paused.key

    paused.signal(signal.SIGSTOP)
    try:
        rescuer = start_worker()
        wait_until(lambda: state_of(job) is JobState.FINISHED, "another worker to rerun it")
        assert job.worker == rescuer.key
        # The paused worker's child stopped itself before its lease expired (fencing).
        first_pid = int(lines(path)[0])
        assert is_gone(first_pid)
        release.touch()
        assert lines(path).count("done") == 1
        ended_by_rescuer = job.record.ended_at
    finally:
        paused.signal(signal.SIGCONT)

    refused = f"Outcome of job {job.id} was not recorded: its lease was lost"
    taken_over = f"Job {job.id} on worker {paused_key} was canceled or taken over"
    wait_until(
        lambda: refused in paused.stderr or taken_over in paused.stderr,
        "the resumed worker to find its lease lost",
    )
    assert state_of(job) is JobState.FINISHED
    assert job.worker == rescuer.key
    assert job.record.ended_at == ended_by_rescuer
    assert job.attempts == 2
    assert [e.type for e in job.errors] == ["WorkerLost"]
    assert paused_key in job.errors[0].message
    assert paused.running()
    assert rescuer.running()
    finished_echo("after the pause")


# -- jobs that kill, exit or block ---------------------------------------------------------------
def test_a_job_that_kills_its_process_every_time_fails_after_max_attempts(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "poison.txt"
    poison = conveyor.enqueue(test_jobs.touch_then_kill_self, [str(path)], max_attempts=3)
    hard_exit = conveyor.enqueue(test_jobs.hard_exit, [7], max_attempts=1)
    sys_exit = conveyor.enqueue(test_jobs.exit_interpreter, [3])
    after = conveyor.enqueue(test_jobs.echo, ["still consuming"])

    ran = run_burst_worker(worker_env)  # a loop would never return

    assert ran.returncode == 0, ran.stderr
    assert state_of(poison) is JobState.FAILED
    assert poison.attempts == 3
    assert [(e.type, e.attempt) for e in poison.errors] == [
        ("ChildProcessDied", 1),
        ("ChildProcessDied", 2),
        ("ChildProcessDied", 3),
    ]
    assert len(set(lines(path))) == 3  # three runs, each in a fresh process
    assert f"Job {poison.id} on worker" in ran.stderr
    assert "no attempts left" in ran.stderr
    assert state_of(hard_exit) is JobState.FAILED
    assert hard_exit.error is not None
    assert hard_exit.error.message == "The job's process exited with code 7"
    assert state_of(sys_exit) is JobState.FAILED
    assert sys_exit.error is not None
    assert (sys_exit.error.type, sys_exit.error.message) == ("SystemExit", "3")
    assert state_of(after) is JobState.FINISHED
    assert after.result == "still consuming"


def test_a_job_blocked_in_c_past_its_timeout_is_killed_and_failed(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "blocked.txt"
    # Out of reach of the JobTimeoutException too: SIGALRM is blocked, then it sleeps in C.
    blocked = conveyor.enqueue(
        execution_jobs.blocked_in_c_without_alarm, [str(path), 60], timeout=1
    )
    after = conveyor.enqueue(test_jobs.echo, ["next"])

    ran = run_burst_worker({**worker_env, "CONVEYOR_JOBS_TIMEOUT_GRACE": "1"})

    assert ran.returncode == 0, ran.stderr
    assert state_of(blocked) is JobState.FAILED
    assert blocked.attempts == 1
    assert blocked.error is not None
    assert blocked.error.type == "JobTimeoutError"
    assert blocked.error.message == "Job exceeded maximum timeout value (1 seconds)"
    assert f"Job {blocked.id} on worker" in ran.stderr
    assert "timed out" in ran.stderr
    assert "its process was killed after 1s grace" in ran.stderr
    assert is_gone(int(lines(path)[0]))
    assert state_of(after) is JobState.FINISHED


# -- the backend goes away -------------------------------------------------------------------
@contextlib.contextmanager
def locked(database: Path) -> Iterator[None]:
    """Hold SQLite's write lock on ``database`` from a connection of our own."""
    connection = sqlite3.connect(database, isolation_level=None, timeout=WAIT)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def lease_expired(job: conveyor.Job) -> bool:
    job.refresh()
    expires = job.record.lease_expires_at
    return expires is not None and expires < time.time()


def backoff_delays(log: str) -> list[float]:
    return [float(s) for s in re.findall(r"backend error, retrying in ([0-9.]+)s", log)]


@pytest.mark.slow
def test_a_worker_waits_out_a_locked_database_and_records_what_finished_meanwhile(
    start_worker: Callable[..., WorkerProcess], worker_env: dict[str, str], tmp_path: Path
) -> None:
    database = tmp_path / "jobs.sqlite3"
    url = f"sqlite:///{database}?busy_timeout=0.2"
    with conveyor.config.override({"conveyor.backend": url}):
        path, release = tmp_path / "job.txt", tmp_path / "release"
        running = conveyor.enqueue(test_jobs.touch_then_wait, [str(path), str(release)])
        waiting = conveyor.enqueue(test_jobs.echo, ["after the lock"])
        worker = start_worker(env={**worker_env, "CONVEYOR_BACKEND": url})
        wait_until(lambda: lines(path) == ["started"], "the first job to start")

        with locked(database):
            release.touch()
            worker.wait_for_log(f"has finished job {running.id}")
            worker.wait_for_log("backend error, retrying in 0.4s")
            # Past its lease: the worker must record its own outcome, not recover the job.
            wait_until(lambda: lease_expired(running), "the finished job's lease to expire")
            with pytest.raises(conveyor.BackendUnavailable, match="database is locked"):
                conveyor.enqueue(test_jobs.echo, ["while locked"], job_id="while-locked")
            assert state_of(running) is JobState.STARTED  # its outcome is waiting
            assert worker.running()

        wait_until(lambda: state_of(running) is JobState.FINISHED, "the outcome to be recorded")
        wait_until(lambda: state_of(waiting) is JobState.FINISHED, "the queued job to run")
        assert waiting.result == "after the lock"
        assert (running.attempts, running.errors) == (1, ())
        assert lines(path) == ["started", "done"]
        with pytest.raises(conveyor.NoSuchJobError):
            conveyor.job_from_id("while-locked")
        assert conveyor.job_count(states=[s.value for s in JobState]) == 2
        assert "database is locked" in worker.stderr
        delays = backoff_delays(worker.stderr)
        assert delays[delays.index(0.4) - 2 : delays.index(0.4) + 1] == [0.1, 0.2, 0.4]
        assert "Traceback" not in worker.stderr
        assert worker.running()
        finished_echo("after the outage")


def test_a_worker_started_while_the_database_is_locked_waits_for_it(
    start_worker: Callable[..., WorkerProcess], worker_env: dict[str, str], tmp_path: Path
) -> None:
    database = tmp_path / "jobs.sqlite3"
    url = f"sqlite:///{database}?busy_timeout=0.2"
    with conveyor.config.override({"conveyor.backend": url}):
        job = conveyor.enqueue(test_jobs.echo, ["after the wait"])

        with locked(database):
            worker = start_worker(env={**worker_env, "CONVEYOR_BACKEND": url})
            worker.wait_for_log("backend error, retrying in 0.2s")
            assert "database is locked" in worker.stderr
            assert worker.running()

        wait_until(lambda: state_of(job) is JobState.FINISHED, "the queued job to run")
        assert job.result == "after the wait"
        assert "Traceback" not in worker.stderr
        assert worker.running()
