"""The worker run in-process: the supervisor is this test process, jobs run in forked children."""

from __future__ import annotations

import functools
import logging
import os
import re
import time
from pathlib import Path

import pytest

import conveyor
import conveyor_test_jobs as test_jobs
from conveyor import JobState, config


@pytest.fixture
def caplog(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record of the conveyor logger tree, DEBUG and up."""
    caplog.set_level(logging.DEBUG, logger="conveyor")
    return caplog


def conveyor_records(
    caplog: pytest.LogCaptureFixture, level: int | None = None
) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if (record.name == "conveyor" or record.name.startswith("conveyor."))
        and (level is None or record.levelno == level)
    ]


def messages(caplog: pytest.LogCaptureFixture, level: int | None = None) -> list[str]:
    return [record.getMessage() for record in conveyor_records(caplog, level)]


def fetch(job: conveyor.Job) -> conveyor.Job:
    job.refresh()
    return job


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


# -- logging -------------------------------------------------------------------------
def test_a_burst_run_of_one_job_logs_the_four_lifecycle_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = conveyor.enqueue(test_jobs.succeed)
    worker = conveyor.Worker()
    caplog.clear()

    assert worker.work(burst=True) is True

    info = messages(caplog, logging.INFO)
    assert len(info) == 4, info
    started, starts, finished, stopped = info
    assert worker.key in started
    assert "has started" in started
    assert '"default"' in started
    assert f"(PID {os.getpid()})" in started
    assert re.search(rf"Worker {re.escape(worker.name)} starts job {job.id} from queue", starts)
    assert re.search(
        rf"Worker {re.escape(worker.name)} has finished job {job.id} from queue", finished
    )
    assert worker.name in stopped
    assert "has stopped" in stopped


def test_job_lines_are_whole_log_records_like_the_logging_module_makes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The recorder builds its records from a template (for speed): they must carry
    every attribute a record made by ``Logger.info`` carries, with the same values
    where those do not depend on the moment or the source line."""
    job = conveyor.enqueue(test_jobs.succeed)
    worker = conveyor.Worker()
    caplog.clear()
    before = time.time()
    worker.work(burst=True)
    after = time.time()
    starts = next(r for r in conveyor_records(caplog) if "starts job" in r.getMessage())
    standard = logging.getLogger("conveyor.worker").makeRecord(
        "conveyor.worker", logging.INFO, __file__, 1, "x", (), None
    )
    moment = {"created", "msecs", "relativeCreated", "lineno", "pathname", "filename", "module"}
    moment |= {"msg", "args", "funcName", "message", "asctime"}
    extra = {"job_id", "queue", "worker", "attempt"}
    assert set(vars(starts)) - {"message", "asctime"} == set(vars(standard)) | extra
    for name in set(vars(standard)) - moment:
        assert getattr(starts, name) == getattr(standard, name), name
    assert (starts.job_id, starts.queue, starts.worker, starts.attempt) == (
        job.id,
        "default",
        worker.name,
        1,
    )
    assert starts.funcName == "started"
    assert starts.module == "outcomes"
    assert before <= starts.created <= after
    assert starts.msecs == pytest.approx((starts.created % 1) * 1000, abs=1.001)
    assert starts.relativeCreated == pytest.approx(
        (starts.created - standard.created) * 1000 + standard.relativeCreated, abs=5
    )


def test_the_job_title_appears_in_the_start_and_finish_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = conveyor.enqueue(test_jobs.succeed, title="My log job")
    caplog.clear()

    conveyor.Worker().work(burst=True)

    info = messages(caplog, logging.INFO)
    display = f"{job.id} (My log job)"
    assert any(f"starts job {display}" in line for line in info), info
    assert any(f"has finished job {display}" in line for line in info), info


def test_the_worker_key_is_unique_per_worker() -> None:
    first, second = conveyor.Worker(), conveyor.Worker()

    assert first.key != second.key
    assert first.key.startswith("conveyor:worker:")


# -- failures ------------------------------------------------------------------------
def test_a_failing_job_is_logged_and_recorded_and_the_worker_goes_on(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    failing = conveyor.enqueue(test_jobs.failing_job)
    marker = tmp_path / "after.txt"
    after = conveyor.enqueue(test_jobs.touch, [str(marker), "ran"])
    worker = conveyor.Worker()

    worker.work(burst=True)

    errors = conveyor_records(caplog, logging.ERROR)
    expected = (
        rf"Job {failing.id} on worker {re.escape(worker.name)} raised an exception: JOB FAILURE"
    )
    matching = [r for r in errors if re.search(expected, r.getMessage())]
    assert len(matching) == 1, [r.getMessage() for r in errors]
    assert "Traceback (most recent call last)" in matching[0].getMessage()
    assert "RuntimeError: JOB FAILURE" in matching[0].getMessage()

    failing = fetch(failing)
    assert failing.state is JobState.FAILED
    assert failing.error is not None
    assert failing.error.type == "RuntimeError"
    assert failing.error.message == "JOB FAILURE"
    assert "in failing_job" in failing.error.traceback
    assert "RuntimeError: JOB FAILURE" in failing.error.traceback
    assert failing.attempts == 1

    assert fetch(after).state is JobState.FINISHED
    assert lines(marker) == ["ran"]


def test_a_job_that_overruns_its_timeout_is_killed_and_the_next_job_runs(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    slow = conveyor.enqueue(test_jobs.sleep_for, [30], timeout=1)
    marker = tmp_path / "after.txt"
    after = conveyor.enqueue(test_jobs.touch, [str(marker), "ran"])

    conveyor.Worker().work(burst=True)

    slow = fetch(slow)
    assert slow.state is JobState.FAILED
    assert slow.error is not None
    assert slow.error.type == "JobTimeoutError"
    assert slow.error.message == "Job exceeded maximum timeout value (1 seconds)"
    assert slow.result is None
    assert any(slow.id in line and "timed out" in line for line in messages(caplog, logging.ERROR))
    assert fetch(after).state is JobState.FINISHED
    assert lines(marker) == ["ran"]


def test_a_job_that_kills_its_process_is_retried_then_failed(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    dying = conveyor.enqueue(test_jobs.kill_self, max_attempts=2)
    marker = tmp_path / "after.txt"
    after = conveyor.enqueue(test_jobs.touch, [str(marker), "ran"])

    conveyor.Worker().work(burst=True)

    dying = fetch(dying)
    assert dying.state is JobState.FAILED
    assert dying.attempts == 2
    assert [error.type for error in dying.errors] == ["ChildProcessDied", "ChildProcessDied"]
    assert dying.errors[-1].message == "The job's process was killed by signal 9"
    errors = messages(caplog, logging.ERROR)
    assert any(dying.id in line and "retrying (attempt 1 of 2)" in line for line in errors)
    assert any(dying.id in line and "no attempts left" in line for line in errors)
    assert fetch(after).state is JobState.FINISHED
    assert lines(marker) == ["ran"]


def test_a_job_calling_sys_exit_fails_with_system_exit() -> None:
    exiting = conveyor.enqueue(test_jobs.exit_interpreter, [3])
    after = conveyor.enqueue(test_jobs.echo, ["still here"])

    conveyor.Worker().work(burst=True)

    exiting = fetch(exiting)
    assert exiting.state is JobState.FAILED
    assert exiting.attempts == 1
    assert exiting.error is not None
    assert exiting.error.type == "SystemExit"
    assert exiting.error.message == "3"
    assert fetch(after).result == "still here"


def test_a_job_calling_os_exit_fails_with_child_process_died() -> None:
    exiting = conveyor.enqueue(test_jobs.hard_exit, [7], max_attempts=1)
    after = conveyor.enqueue(test_jobs.echo, ["still here"])

    conveyor.Worker().work(burst=True)

    exiting = fetch(exiting)
    assert exiting.state is JobState.FAILED
    assert exiting.attempts == 1
    assert exiting.error is not None
    assert exiting.error.type == "ChildProcessDied"
    assert exiting.error.message == "The job's process exited with code 7"
    assert fetch(after).result == "still here"


# -- queues --------------------------------------------------------------------------
def test_a_worker_without_queues_runs_only_the_default_queue(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    default = conveyor.enqueue(test_jobs.touch, [str(marker), "default"])
    other = conveyor.enqueue(test_jobs.touch, [str(marker), "other"], queue="other")

    assert conveyor.Worker().work(burst=True) is True

    assert lines(marker) == ["default"]
    assert fetch(default).state is JobState.FINISHED
    assert fetch(other).state is JobState.QUEUED


def test_the_leftmost_queue_is_drained_first_and_unlisted_queues_are_left_alone(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran.txt"
    for n in (1, 2):
        conveyor.enqueue(test_jobs.touch, [str(marker), f"low{n}"], queue="low")
        conveyor.enqueue(test_jobs.touch, [str(marker), f"high{n}"], queue="high")
    untouched = conveyor.enqueue(test_jobs.touch, [str(marker), "default"])

    conveyor.Worker(["high", "low"]).work(burst=True)

    assert lines(marker) == ["high1", "high2", "low1", "low2"]
    assert fetch(untouched).state is JobState.QUEUED
    assert conveyor.job_list(ids_only=True) == [untouched.id]


def test_a_single_queue_name_can_be_given_as_a_string(tmp_path: Path) -> None:
    job = conveyor.enqueue(test_jobs.succeed, queue="mine")

    conveyor.Worker("mine").work(burst=True)

    assert fetch(job).state is JobState.FINISHED


# -- results -------------------------------------------------------------------------
def test_the_return_value_is_stored_as_the_result() -> None:
    summed = conveyor.enqueue(test_jobs.add, [2, 3])
    echoed = conveyor.enqueue(test_jobs.echo, [{"a": [1, "two", None]}])
    nothing = conveyor.enqueue(test_jobs.succeed)

    conveyor.Worker().work(burst=True)

    assert fetch(summed).result == 5
    assert fetch(echoed).result == {"a": [1, "two", None]}
    nothing = fetch(nothing)
    assert nothing.state is JobState.FINISHED
    assert nothing.result is None


def test_large_arguments_and_results_cross_the_pipe_whole_among_small_ones() -> None:
    """Messages of 200 KB and more take several reads of a child's pipe, between quick ones."""
    texts = ["a" * 200_000, "b" * 3, "c" * 700_000, "d" * 20_000]
    jobs = [conveyor.enqueue(test_jobs.echo, [text]) for text in texts]

    conveyor.Worker(concurrency=2).work(burst=True)

    assert [fetch(job).result for job in jobs] == texts


def test_an_unserializable_result_is_dropped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = conveyor.enqueue(test_jobs.return_unserializable)

    conveyor.Worker().work(burst=True)

    job = fetch(job)
    assert job.state is JobState.FINISHED
    assert job.result is None
    warnings = messages(caplog, logging.WARNING)
    assert any(job.id in line and "Result not stored" in line for line in warnings), warnings


# -- children ------------------------------------------------------------------------
def test_two_children_run_two_jobs_at_the_same_time(tmp_path: Path) -> None:
    first_mark, second_mark = str(tmp_path / "first"), str(tmp_path / "second")
    first = conveyor.enqueue(test_jobs.meet, [first_mark, second_mark])
    second = conveyor.enqueue(test_jobs.meet, [second_mark, first_mark])

    conveyor.Worker(concurrency=2).work(burst=True)

    first, second = fetch(first), fetch(second)
    assert first.state is JobState.FINISHED, first.error
    assert second.state is JobState.FINISHED, second.error
    assert first.result != second.result


def test_children_are_reused_by_default() -> None:
    jobs = [conveyor.enqueue(test_jobs.pid) for _ in range(3)]

    conveyor.Worker().work(burst=True)

    pids = {fetch(job).result for job in jobs}
    assert len(pids) == 1
    assert os.getpid() not in pids


def test_job_isolation_runs_every_job_in_a_fresh_process() -> None:
    jobs = [conveyor.enqueue(test_jobs.pid) for _ in range(3)]

    conveyor.Worker(isolation="job").work(burst=True)

    pids = [fetch(job).result for job in jobs]
    assert len(set(pids)) == 3
    assert os.getpid() not in pids


def test_children_are_recycled_after_max_jobs_per_child() -> None:
    jobs = [conveyor.enqueue(test_jobs.pid) for _ in range(4)]

    with config.override({"conveyor.worker.max_jobs_per_child": 2}):
        conveyor.Worker().work(burst=True)

    pids = [fetch(job).result for job in jobs]
    assert pids[0] == pids[1]
    assert pids[2] == pids[3]
    assert pids[0] != pids[2]


# -- hooks ---------------------------------------------------------------------------
def test_the_init_hook_runs_in_each_child_before_its_jobs(tmp_path: Path) -> None:
    log_file = tmp_path / "order.txt"
    jobs = [conveyor.enqueue(test_jobs.touch, [str(log_file), "job"]) for _ in range(2)]
    jobs += [conveyor.enqueue(test_jobs.pid) for _ in range(2)]

    init = functools.partial(test_jobs.touch, str(log_file))
    conveyor.Worker(isolation="job", init=init).work(burst=True)

    first, second = (fetch(job).result for job in jobs[2:])
    recorded = lines(log_file)
    assert recorded[:4] == [recorded[0], "job", recorded[2], "job"]
    child_pids = {int(recorded[0]), int(recorded[2]), *map(int, recorded[4:])}
    assert len(child_pids) == 4
    assert recorded[4:] == [str(first), str(second)]
    assert os.getpid() not in child_pids


def test_the_before_fork_hook_runs_in_the_supervisor_before_each_fork(tmp_path: Path) -> None:
    hook_file = tmp_path / "before_fork.txt"
    jobs = [conveyor.enqueue(test_jobs.pid) for _ in range(2)]

    hook = functools.partial(test_jobs.touch, str(hook_file))
    conveyor.Worker(isolation="job", before_fork=hook).work(burst=True)

    assert lines(hook_file) == [str(os.getpid())] * 2
    assert all(fetch(job).result != os.getpid() for job in jobs)


def test_hooks_can_be_named_by_config_keys(tmp_path: Path) -> None:
    jobs = [conveyor.enqueue(test_jobs.pid) for _ in range(2)]
    settings = {
        "conveyor.worker.init": "conveyor_test_jobs:record_init",
        "conveyor.worker.before_fork": "conveyor_test_jobs:record_before_fork",
    }

    with config.override(settings):
        worker = conveyor.Worker(isolation="job")
    worker.work(burst=True)

    child_pids = [str(fetch(job).result) for job in jobs]
    assert lines(tmp_path / "init.txt") == child_pids
    assert lines(tmp_path / "before_fork.txt") == [str(os.getpid())] * 2


def test_hooks_given_as_arguments_win_over_the_config_keys(tmp_path: Path) -> None:
    conveyor.enqueue(test_jobs.succeed)
    settings = {
        "conveyor.worker.init": "conveyor_test_jobs:record_init",
        "conveyor.worker.before_fork": "conveyor_test_jobs:record_before_fork",
    }
    init_file, fork_file = tmp_path / "mine-init.txt", tmp_path / "mine-fork.txt"

    with config.override(settings):
        worker = conveyor.Worker(
            init=functools.partial(test_jobs.touch, str(init_file), "init"),
            before_fork=functools.partial(test_jobs.touch, str(fork_file), "fork"),
        )
    worker.work(burst=True)

    assert lines(init_file) == ["init"]
    assert lines(fork_file) == ["fork"]
    assert not (tmp_path / "init.txt").exists()
    assert not (tmp_path / "before_fork.txt").exists()


# -- stopping ------------------------------------------------------------------------
def test_a_burst_run_with_nothing_to_do_returns_false() -> None:
    conveyor.enqueue(test_jobs.succeed, queue="elsewhere")

    assert conveyor.Worker().work(burst=True) is False


def test_max_idle_time_returns_after_idling() -> None:
    assert conveyor.Worker().work(max_idle_time=1) is False


def test_max_idle_time_counts_from_the_end_of_the_last_job() -> None:
    """A job longer than the idle time is not itself counted as idle time."""
    job = conveyor.enqueue(test_jobs.sleep_for, [1.5])

    assert conveyor.Worker().work(max_idle_time=1) is True

    returned = time.time()
    job.refresh()
    assert job.state is JobState.FINISHED
    assert job.record.ended_at is not None
    assert returned - job.record.ended_at >= 0.9  # it waited for more work after the job


def test_max_idle_time_runs_the_waiting_jobs_first() -> None:
    job = conveyor.enqueue(test_jobs.echo, ["hello"])

    assert conveyor.Worker().work(max_idle_time=1) is True

    assert fetch(job).result == "hello"


# -- refusals ------------------------------------------------------------------------
@pytest.mark.parametrize("concurrency", [0, -1, 1025, 10**20])
def test_a_concurrency_out_of_range_is_refused(concurrency: int) -> None:
    with pytest.raises(conveyor.ConfigError, match="concurrency must be from 1 to 1024"):
        conveyor.Worker(concurrency=concurrency)


def test_an_unknown_isolation_is_refused() -> None:
    with pytest.raises(conveyor.ConfigError, match="isolation must be 'child' or 'job'"):
        conveyor.Worker(isolation="thread")


def test_a_fresh_child_per_job_never_mistakes_a_finished_child_for_a_dead_one() -> None:
    # Each child reports and exits at once; its exit must never be read as a crash
    # (a crash would retry the job and record a ChildProcessDied error).
    jobs = [conveyor.enqueue(test_jobs.pid) for _ in range(30)]
    conveyor.Worker(isolation="job", concurrency=2).work(burst=True)
    for job in jobs:
        job.refresh()
        assert job.state is JobState.FINISHED
        assert job.attempts == 1
        assert job.errors == ()
    assert len({job.result for job in jobs}) == 30
