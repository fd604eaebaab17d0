"""The ``conveyor jobs worker`` command as a real process: output, signals, cancel."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

import conveyor
import conveyor_test_jobs as test_jobs
from conveyor import JobState
from support import WorkerProcess, is_gone, lines, run_cli, state_of, wait_until


# -- output --------------------------------------------------------------------------
def test_a_burst_worker_runs_the_test_job_and_logs_at_info(
    subprocess_env: dict[str, str],
) -> None:
    enqueued = run_cli(subprocess_env, "jobs", "test")
    assert enqueued.returncode == 0, enqueued.stderr

    ran = run_cli(subprocess_env, "jobs", "worker", "--burst")

    assert ran.returncode == 0, ran.stderr
    assert "('A test job',)" in ran.stdout.splitlines()
    log = ran.stderr.splitlines()
    assert any("INFO" in line and "has started on queue(s)" in line for line in log), log
    assert any("INFO" in line and "has finished job" in line for line in log), log
    assert any("INFO" in line and "has stopped" in line for line in log), log
    assert conveyor.job_count(states=["finished"]) == 1
    assert conveyor.job_count() == 0


def test_log_level_warning_hides_the_info_lines(subprocess_env: dict[str, str]) -> None:
    conveyor.enqueue(conveyor.test_job, ["A test job"])

    ran = run_cli(subprocess_env, "jobs", "worker", "--burst", "--log-level", "WARNING")

    assert ran.returncode == 0, ran.stderr
    assert "('A test job',)" in ran.stdout.splitlines()
    assert "INFO" not in ran.stderr
    assert "has started" not in ran.stderr
    assert conveyor.job_count(states=["finished"]) == 1


def test_max_idle_time_makes_the_worker_exit_by_itself(
    start_worker: Callable[..., WorkerProcess],
) -> None:
    worker = start_worker("--max-idle-time", "1")

    assert worker.exit_code() == 0
    assert "has stopped" in worker.stderr


def test_concurrency_two_runs_two_jobs_at_once(
    start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    first_mark, second_mark = str(tmp_path / "first"), str(tmp_path / "second")
    first = conveyor.enqueue(test_jobs.meet, [first_mark, second_mark])
    second = conveyor.enqueue(test_jobs.meet, [second_mark, first_mark])

    worker = start_worker("--burst", "--concurrency", "2")

    assert worker.exit_code() == 0, worker.stderr
    assert state_of(first) is JobState.FINISHED
    assert state_of(second) is JobState.FINISHED
    assert first.result != second.result


# -- signals -------------------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_one_signal_lets_the_running_job_finish_then_exits_cleanly(
    start_worker: Callable[..., WorkerProcess], tmp_path: Path, signum: int
) -> None:
    path, release = tmp_path / "job.txt", tmp_path / "release"
    job = conveyor.enqueue(test_jobs.touch_then_wait, [str(path), str(release)])
    later = conveyor.enqueue(test_jobs.succeed)
    worker = start_worker()
    wait_until(lambda: lines(path) == ["started"], "the job to start")

    worker.signal(signum)
    worker.wait_for_log("warm shut down requested")
    release.touch()

    assert worker.exit_code() == 0, worker.stderr
    assert lines(path) == ["started", "done"]
    assert state_of(job) is JobState.FINISHED
    assert state_of(later) is JobState.QUEUED  # nothing new is claimed once asked to stop


def test_a_second_signal_stops_at_once_and_puts_the_job_back(
    start_worker: Callable[..., WorkerProcess], subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "job.txt"
    job = conveyor.enqueue(test_jobs.sleep_on_first_run, [str(path), 600])
    worker = start_worker()
    wait_until(lambda: len(lines(path)) == 1, "the job to start")
    child_pid = int(lines(path)[0])

    worker.signal(signal.SIGTERM)
    worker.wait_for_log("warm shut down requested")
    worker.signal(signal.SIGTERM)

    assert worker.exit_code() == 0, worker.stderr
    assert "cold shut down requested" in worker.stderr
    wait_until(lambda: is_gone(child_pid), "the job's process to be killed")
    assert state_of(job) is JobState.QUEUED
    assert job.attempts == 0
    assert lines(path) == [str(child_pid)]

    rerun = run_cli(subprocess_env, "jobs", "worker", "--burst")

    assert rerun.returncode == 0, rerun.stderr
    assert state_of(job) is JobState.FINISHED
    assert job.attempts == 1
    first_pid, rerun_pid, last = lines(path)
    assert (first_pid, last) == (str(child_pid), "done")
    assert rerun_pid != first_pid


# -- cancel --------------------------------------------------------------------------
def test_cancelling_a_running_job_kills_its_process_and_the_worker_goes_on(
    start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    path = tmp_path / "job.txt"
    job = conveyor.enqueue(test_jobs.sleep_on_first_run, [str(path), 600])
    worker = start_worker()
    wait_until(lambda: len(lines(path)) == 1, "the job to start")
    child_pid = int(lines(path)[0])

    conveyor.job_cancel(job.id)

    wait_until(lambda: is_gone(child_pid), "the canceled job's process to be killed")
    assert state_of(job) is JobState.CANCELED
    assert lines(path) == [str(child_pid)]
    assert worker.process.poll() is None

    later = conveyor.enqueue(test_jobs.echo, ["after the cancel"])
    wait_until(lambda: state_of(later) is JobState.FINISHED, "the next job to run")
    assert later.result == "after the cancel"
    assert state_of(job) is JobState.CANCELED

    worker.signal(signal.SIGTERM)
    assert worker.exit_code() == 0, worker.stderr
