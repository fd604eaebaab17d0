"""The ``conveyor jobs worker`` command as a real process: output, signals, cancel."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import conveyor
import conveyor_test_jobs as test_jobs
from conveyor import JobState

CONVEYOR = str(Path(sys.executable).parent / "conveyor")
WAIT = 30.0  # the longest any condition may take before the test fails


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def is_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie awaiting its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def state_of(job: conveyor.Job) -> JobState:
    job.refresh()
    return job.state


class WorkerProcess:
    """A ``conveyor jobs worker`` process in its own session, its output in files."""

    def __init__(self, args: list[str], env: dict[str, str], directory: Path) -> None:
        directory.mkdir()
        self.stdout_path = directory / "worker.out"
        self.stderr_path = directory / "worker.err"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [CONVEYOR, "jobs", "worker", *args],
                env=env,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its group holds it and its children, for cleanup
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8")

    def wait_for_log(self, text: str) -> None:
        wait_until(lambda: text in self.stderr, f"{text!r} in the worker's log")

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def exit_code(self, timeout: float = WAIT) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the worker did not exit:\n{self.stderr}") from None

    def stop(self) -> None:
        """Kill the worker and whatever is left of its children."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        with contextlib.suppress(ProcessLookupError):  # an empty group: all are gone
            os.killpg(self.pid, signal.SIGKILL)


@pytest.fixture
def start_worker(
    subprocess_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(*args: str) -> WorkerProcess:
        worker = WorkerProcess(list(args), subprocess_env, tmp_path / f"worker{len(started)}")
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CONVEYOR, *args], env=env, capture_output=True, text=True, timeout=WAIT, check=False
    )


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
