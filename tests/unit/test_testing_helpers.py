"""conveyor.testing: running jobs in the test's process, and the pytest plugin's fixtures."""

from __future__ import annotations

import enum
import logging
import os
import threading
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

import conveyor
import conveyor_test_jobs as test_jobs
from conveyor import JobState, Retry
from conveyor.exceptions import FunctionNotImportable, NoSuchJobError, SerializationError
from conveyor.testing import run_jobs, run_synchronously

pytest_plugins = ["pytester"]


def stored_state(job: conveyor.Job) -> JobState:
    return conveyor.job_from_id(job.id).state


# -- run_synchronously ------------------------------------------------------------------
def test_a_job_has_run_when_enqueue_returns_under_run_synchronously(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    with run_synchronously() as ran:
        job = conveyor.enqueue(test_jobs.touch, [str(marker)], title="Touch")
        assert marker.read_text() == f"{os.getpid()}\n"  # in this very process
        second = conveyor.enqueue_job(test_jobs.add, [2, 3])
    assert job.state is JobState.FINISHED
    assert job.title == "Touch"
    assert job.attempts == 1
    assert job.started_at is not None
    assert job.ended_at is not None
    assert second.result == 5
    assert ran == [job, second]


def test_a_jobs_exception_reaches_the_caller_under_run_synchronously() -> None:
    with run_synchronously() as ran, pytest.raises(RuntimeError, match="JOB FAILURE"):
        conveyor.enqueue(test_jobs.failing_job)
    [job] = ran
    assert job.state is JobState.FAILED
    assert job.error is not None
    assert job.error.type == "RuntimeError"
    assert "failing_job" in job.error.traceback


def test_raise_errors_false_records_the_failure_on_the_returned_job() -> None:
    with run_synchronously(raise_errors=False):
        job = conveyor.enqueue(test_jobs.failing_job)
    assert job.state is JobState.FAILED
    assert job.error is not None
    assert job.error.message == "JOB FAILURE"


def test_an_argument_that_could_not_be_stored_fails_under_run_synchronously(
    tmp_path: Path,
) -> None:
    with run_synchronously() as ran:
        with pytest.raises(SerializationError, match=r"args\[1\]"):
            conveyor.enqueue(test_jobs.touch, [str(tmp_path / "x"), {1, 2}])
        with pytest.raises(FunctionNotImportable, match="lambda"):
            conveyor.enqueue(lambda: None)
    assert ran == []
    assert not (tmp_path / "x").exists()


class Level(enum.IntEnum):
    HIGH = 2


def test_a_job_gets_its_arguments_as_a_worker_would_under_run_synchronously() -> None:
    with run_synchronously():
        job = conveyor.enqueue(test_jobs.type_names, [(1, 2), "a"], {"k": Level.HIGH})
    assert job.result == ["tuple", "str", "int"]  # through JSON: the enum is its value


def test_nothing_is_stored_under_run_synchronously() -> None:
    with run_synchronously():
        job = conveyor.enqueue(test_jobs.succeed, queue="elsewhere")
    assert conveyor.get_all_queues() == []
    with pytest.raises(NoSuchJobError):
        conveyor.job_from_id(job.id)


def test_enqueue_many_checks_every_job_before_running_any_under_run_synchronously(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran.txt"
    calls = [
        {"fn": test_jobs.touch, "args": [str(marker)]},
        {"fn": test_jobs.echo, "args": [object()]},
    ]
    with run_synchronously() as ran, pytest.raises(SerializationError):
        conveyor.enqueue_many(calls)
    assert ran == []
    assert not marker.exists()


def test_enqueue_many_runs_its_jobs_in_order_under_run_synchronously() -> None:
    with run_synchronously() as ran:
        jobs = conveyor.enqueue_many([{"fn": test_jobs.echo, "args": [n]} for n in range(3)])
    assert [job.result for job in jobs] == [0, 1, 2]
    assert ran == jobs


def test_a_job_enqueued_by_a_job_runs_inside_it_under_run_synchronously() -> None:
    with run_synchronously() as ran:
        outer = conveyor.enqueue(test_jobs.enqueue_echo, ["inner"])
    inner, finished_outer = ran
    assert finished_outer == outer
    assert inner.id == outer.result
    assert inner.result == "inner"


def test_run_synchronously_applies_to_jobs_enqueued_by_other_threads() -> None:
    found: list[conveyor.Job] = []
    with run_synchronously():
        thread = threading.Thread(target=lambda: found.append(conveyor.enqueue(test_jobs.pid)))
        thread.start()
        thread.join(10)
    assert [job.result for job in found] == [os.getpid()]


def test_enqueue_stores_jobs_again_after_the_block_even_after_an_error() -> None:
    with pytest.raises(RuntimeError), run_synchronously():
        conveyor.enqueue(test_jobs.failing_job)
    job = conveyor.enqueue(test_jobs.succeed)
    assert stored_state(job) is JobState.QUEUED


def test_nested_blocks_restore_the_outer_one() -> None:
    with run_synchronously() as outer:
        with run_synchronously(raise_errors=False) as inner:
            conveyor.enqueue(test_jobs.failing_job)
        with pytest.raises(RuntimeError):
            conveyor.enqueue(test_jobs.failing_job)
    assert len(inner) == 1
    assert len(outer) == 1


def test_a_result_that_could_not_be_stored_is_dropped_as_in_a_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="conveyor")
    with run_synchronously():
        job = conveyor.enqueue(test_jobs.return_unserializable)
    assert job.state is JobState.FINISHED
    assert job.result is None
    assert "Result not stored" in caplog.text


# -- run_jobs ----------------------------------------------------------------------------
def test_run_jobs_runs_the_queued_jobs_in_this_process_and_records_them() -> None:
    first = conveyor.enqueue(test_jobs.pid)
    second = conveyor.enqueue(test_jobs.add, [1, 2], queue="other")
    assert stored_state(first) is JobState.QUEUED

    ran = run_jobs()

    assert {job.id for job in ran} == {first.id, second.id}
    by_id = {job.id: job for job in ran}
    assert by_id[first.id].result == os.getpid()
    assert by_id[second.id].result == 3
    assert stored_state(first) is JobState.FINISHED
    assert conveyor.job_from_id(second.id).result == 3
    assert run_jobs() == []


def test_run_jobs_runs_only_the_queues_it_is_given_in_order() -> None:
    low = conveyor.enqueue(test_jobs.echo, ["low"], queue="low")
    high = conveyor.enqueue(test_jobs.echo, ["high"], queue="high")
    elsewhere = conveyor.enqueue(test_jobs.echo, ["elsewhere"], queue="elsewhere")

    ran = run_jobs(["high", "low"])

    assert [job.id for job in ran] == [high.id, low.id]
    assert stored_state(elsewhere) is JobState.QUEUED


def test_run_jobs_propagates_a_jobs_exception_after_recording_it() -> None:
    failing = conveyor.enqueue(test_jobs.failing_job)
    after = conveyor.enqueue(test_jobs.succeed)

    with pytest.raises(RuntimeError, match="JOB FAILURE"):
        run_jobs()

    failed = conveyor.job_from_id(failing.id)
    assert failed.state is JobState.FAILED
    assert failed.error is not None
    assert failed.error.type == "RuntimeError"
    assert stored_state(after) is JobState.QUEUED  # the run stopped at the failure


def test_run_jobs_without_raise_errors_records_failures_and_goes_on() -> None:
    failing = conveyor.enqueue(test_jobs.failing_job)
    after = conveyor.enqueue(test_jobs.echo, ["after"])

    ran = run_jobs(raise_errors=False)

    assert [(job.id, job.state) for job in ran] == [
        (failing.id, JobState.FAILED),
        (after.id, JobState.FINISHED),
    ]
    assert ran[0].error is not None
    assert ran[0].error.message == "JOB FAILURE"


def test_run_jobs_runs_the_jobs_that_jobs_enqueue() -> None:
    conveyor.enqueue(test_jobs.enqueue_echo, ["inner", "later"])
    outer, inner = run_jobs()
    assert inner.id == outer.result
    assert inner.queue == "later"
    assert inner.result == "inner"


def test_run_jobs_runs_retries_that_are_due_at_once() -> None:
    job = conveyor.enqueue(test_jobs.failing_job, retry=Retry(max=2))

    ran = run_jobs(raise_errors=False)

    assert [(run.id, run.state) for run in ran] == [
        (job.id, JobState.SCHEDULED),
        (job.id, JobState.SCHEDULED),
        (job.id, JobState.FAILED),
    ]
    final = conveyor.job_from_id(job.id)
    assert final.attempts == 3
    assert [error.attempt for error in final.errors] == [1, 2, 3]


def test_run_jobs_reports_a_job_whose_record_is_not_kept() -> None:
    job = conveyor.enqueue(test_jobs.echo, ["gone"], result_ttl=0)
    [ran] = run_jobs()
    assert ran.id == job.id
    assert ran.state is JobState.FINISHED
    assert ran.result == "gone"


# -- the reference's mock pattern, with the full signature --------------------------------
def synchronous_enqueue_job(
    fn: Any,
    args: Any = None,
    kwargs: Any = None,
    title: Any = None,
    queue: str = "default",
    rq_kwargs: Any = None,
    **options: Any,
) -> None:
    """Synchronous mock for ``conveyor.enqueue_job`` accepting every argument (docs/testing.md)."""
    fn(*(args or []), **(kwargs or {}))


def code_that_enqueues(path: str) -> None:
    conveyor.enqueue_job(
        test_jobs.touch, [path], title="t", queue="q", rq_kwargs={"timeout": 5}, meta={"a": 1}
    )


def test_the_documented_full_signature_mock_runs_a_call_with_queue_and_rq_kwargs(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran.txt"
    with mock.patch("conveyor.enqueue_job", side_effect=synchronous_enqueue_job) as patched:
        code_that_enqueues(str(marker))
    assert patched.call_count == 1
    assert marker.exists()
    assert conveyor.get_all_queues() == []


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    found = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert found.get("conveyor") == "conveyor.testing.plugin"


INNER_TESTS = """
import os
from pathlib import Path

import pytest

import conveyor
import conveyor_test_jobs as test_jobs


def test_sync_runs_jobs_at_once(conveyor_tmp_backend, conveyor_sync, tmp_path):
    job = conveyor.enqueue(test_jobs.touch, [str(tmp_path / "m")])
    assert (tmp_path / "m").exists()
    assert conveyor_sync == [job]
    assert job.state == "finished"


def test_sync_lets_the_exception_fail_the_test(conveyor_tmp_backend, conveyor_sync):
    conveyor.enqueue(test_jobs.failing_job)


def test_sync_refuses_an_argument_that_could_not_be_stored(conveyor_tmp_backend, conveyor_sync):
    conveyor.enqueue(test_jobs.echo, [{1, 2}])


def test_run_jobs_drains_the_queues(conveyor_tmp_backend, conveyor_run_jobs):
    job = conveyor.enqueue(test_jobs.pid)
    assert conveyor.job_from_id(job.id).state == "queued"
    [ran] = conveyor_run_jobs()
    assert ran.result == os.getpid()
    assert conveyor.job_from_id(job.id).state == "finished"


def test_tmp_backend_is_fresh_and_in_tmp_path(conveyor_tmp_backend, tmp_path):
    assert str(tmp_path) in conveyor_tmp_backend.backend
    assert conveyor.job_list() == []
    conveyor.enqueue(test_jobs.succeed)
    assert len(conveyor.job_list()) == 1


def test_no_fixture_is_autouse(conveyor_tmp_backend):
    job = conveyor.enqueue(test_jobs.succeed)
    assert conveyor.job_from_id(job.id).state == "queued"
"""


def test_the_plugins_fixtures_work_in_a_pytest_run(
    pytester: pytest.Pytester, conveyor_env: conveyor.Config
) -> None:
    pytester.makepyfile(test_inner=INNER_TESTS)

    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:xdist")

    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_sync_lets_the_exception_fail_the_test _*",
            "E  *RuntimeError: JOB FAILURE",
            "*_ test_sync_refuses_an_argument_that_could_not_be_stored _*",
            "E  *SerializationError: args[[]0[]] is of type set*",
        ],
        consecutive=False,
    )
    # The inner tests' job stores were their own: the outer test's store is untouched.
    assert conveyor.config.current() == conveyor_env
    assert conveyor.get_all_queues() == []


def test_the_plugins_fixtures_are_listed_by_pytest(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "*fixtures defined from conveyor.testing.plugin*",
            "conveyor_tmp_backend -- *plugin.py*",
            "conveyor_sync -- *plugin.py*",
            "conveyor_run_jobs -- *plugin.py*",
        ],
        consecutive=False,
    )
