"""What enqueue() promises, kept by a real (burst) worker: arguments, functions, records, sites."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import uuid
import zoneinfo
from pathlib import Path

import pytest

import conveyor
import conveyor_test_jobs
import conveyor_test_jobs as test_jobs
import execution_jobs as jobs
from conveyor import JobState, config
from conveyor.testing import run_jobs, run_synchronously
from support import CONVEYOR


def test_a_worker_configured_for_json_refuses_to_run_a_pickled_job(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    with config.override({"conveyor.serializer": "pickle"}):
        job = conveyor.enqueue(conveyor_test_jobs.touch, [str(marker), "ran"])
    conveyor.Worker().work(burst=True)
    job.refresh()
    assert job.state is conveyor.JobState.FAILED
    assert job.error is not None
    assert job.error.type == "SerializationError"
    assert not marker.exists()


def test_tagged_arguments_reach_the_job_function_with_their_types() -> None:
    when = dt.datetime(2026, 3, 4, 5, 6, tzinfo=zoneinfo.ZoneInfo("America/Sao_Paulo"))
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    job = conveyor.enqueue(
        conveyor_test_jobs.type_names_with_zone, [when, ident], {"pair": (1, 2)}
    )
    conveyor.Worker().work(burst=True)
    job.refresh()
    assert job.state is conveyor.JobState.FINISHED
    assert job.result == ("datetime America/Sao_Paulo", "UUID", "tuple")


def test_a_worker_runs_functions_given_by_object_string_and_classmethod() -> None:
    by_object = conveyor.enqueue(conveyor_test_jobs.add, [1, 2])
    by_dots = conveyor.enqueue("conveyor_test_jobs.add", [3, 4])
    by_colon = conveyor.enqueue("conveyor_test_jobs:add", [5, 6])
    by_classmethod = conveyor.enqueue(conveyor_test_jobs.Maker.build, [7])
    conveyor.Worker().work(burst=True)
    results = []
    for job in (by_object, by_dots, by_colon, by_classmethod):
        job.refresh()
        assert job.state is conveyor.JobState.FINISHED
        results.append(job.result)
    assert results == [3, 7, 11, 14]


def test_a_function_that_disappears_before_the_worker_runs_it_waits_for_its_code(
    tmp_path: Path,
) -> None:
    """Code missing on a worker: the job is tried later, its attempt not counted."""
    module = tmp_path / "vanishing_jobs_for_conveyor.py"
    module.write_text("def job():\n    return 1\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(tmp_path))
        job = conveyor.enqueue("vanishing_jobs_for_conveyor:job")
    module.unlink()
    sys.modules.pop("vanishing_jobs_for_conveyor", None)
    conveyor.Worker().work(burst=True)
    job.refresh()
    assert (job.state, job.attempts) == (conveyor.JobState.SCHEDULED, 0)
    assert job.error is not None
    assert job.error.type == "JobImportError"
    assert "Cannot import module 'vanishing_jobs_for_conveyor'" in job.error.message


def unique_name() -> str:
    return f"conveyor_tests.task_{uuid.uuid4().hex[:8]}"


def test_a_worker_that_never_registered_the_name_runs_the_job(
    subprocess_env: dict[str, str],
) -> None:
    name = unique_name()  # registered here only; the worker process never sees it
    conveyor.task(name=name)(test_jobs.add)
    job = conveyor.send_task(name, args=[20, 22])

    done = subprocess.run(
        [CONVEYOR, "jobs", "worker", "--burst"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    finished = conveyor.job_from_id(job.id)
    assert finished.state is JobState.FINISHED
    assert finished.result == 42


def outcome(job: conveyor.Job) -> tuple[object, ...]:
    """What must be the same whoever ran the job: state, result, error and traceback."""
    error = job.error
    return (
        job.state,
        job.result,
        None if error is None else (error.type, error.message, error.traceback),
    )


def calls(path: Path) -> list[tuple[object, list[object]]]:
    return [
        (jobs.raises_value_error, []),
        (jobs.exits, [3]),
        (conveyor_test_jobs.exit_interpreter, [4]),
        (jobs.returns_coroutine, [str(path)]),
        (jobs.returns_unstorable, []),
        (jobs.async_note, [str(path), "async"]),
        (conveyor_test_jobs.add, [2, 3]),
    ]


def test_testing_helpers_and_a_worker_end_every_job_alike(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    by_worker = [conveyor.enqueue(fn, args, queue="worker") for fn, args in calls(path)]
    by_run_jobs = [conveyor.enqueue(fn, args, queue="tests") for fn, args in calls(path)]
    with run_synchronously(raise_errors=False) as by_sync:
        for fn, args in calls(path):
            conveyor.enqueue(fn, args)

    assert conveyor.Worker("worker").work(burst=True)
    ran = run_jobs("tests", raise_errors=False)

    assert [job.id for job in ran] == [job.id for job in by_run_jobs]
    for job in by_worker:
        job.refresh()
    expected = [outcome(job) for job in by_worker]
    assert [outcome(job) for job in ran] == expected
    assert [outcome(job) for job in by_sync] == expected
    # The same outcomes, spelled out once: a test of the shared path, not only of agreement.
    states = [state for state, _, _ in expected]
    assert states == [JobState.FAILED] * 4 + [JobState.FINISHED] * 3
    errors = [error for _, _, error in expected]
    assert errors[0][:2] == ("ValueError", "bad value in the job")  # type: ignore[index]
    assert errors[1][:2] == ("SystemExit", "3")  # type: ignore[index]
    assert errors[3][0] == "TypeError"  # type: ignore[index]
    assert "returned an awaitable (coroutine)" in errors[3][1]  # type: ignore[index]
    # The traceback starts at the job's own code.
    trace = errors[0][2]  # type: ignore[index]
    assert 'execution_jobs.py", line' in trace
    assert "execution.py" not in trace
    assert "child.py" not in trace
    assert [result for _, result, _ in expected][-3:] == [None, "async, knowing itself", 5]
    # The async job ran three times (worker, run_jobs, run_synchronously); the coroutine never.
    assert path.read_text().splitlines() == ["async", "async", "async"]


OTHER_SITE = {"conveyor.site_id": "other.site"}


def test_refresh_reloads_the_job_after_a_worker_ran_it() -> None:
    job = conveyor.enqueue(conveyor_test_jobs.add, [2, 3])
    conveyor.Worker().work(burst=True)
    assert job.state is conveyor.JobState.QUEUED  # as last loaded
    job.refresh()
    assert job.state is conveyor.JobState.FINISHED
    assert job.result == 5
    assert job.started_at is not None
    assert job.ended_at is not None
    assert job.started_at <= job.ended_at


def test_a_queue_with_only_ended_jobs_still_counts_as_a_queue() -> None:
    conveyor.enqueue(conveyor_test_jobs.succeed, queue="done")
    conveyor.Worker(["done"]).work(burst=True)
    queues = conveyor.get_all_queues()
    assert [q.short_name for q in queues] == ["done"]
    assert queues[0].count == 0


def test_a_worker_of_another_site_does_not_run_this_sites_jobs() -> None:
    job = conveyor.enqueue(conveyor_test_jobs.succeed)
    with config.override(OTHER_SITE):
        assert conveyor.Worker().work(burst=True) is False
    job.refresh()
    assert job.state is conveyor.JobState.QUEUED


def test_dictize_job_of_finished_and_failed_jobs_is_json() -> None:
    done = conveyor.enqueue(conveyor_test_jobs.add, [1, 2])
    failed = conveyor.enqueue(conveyor_test_jobs.failing_job)
    conveyor.Worker().work(burst=True)
    finished_data = conveyor.dictize_job(conveyor.job_from_id(done.id))
    failed_data = conveyor.dictize_job(conveyor.job_from_id(failed.id))
    assert finished_data["state"] == "finished"
    assert finished_data["result"] == 3
    assert failed_data["state"] == "failed"
    assert failed_data["error"]["type"] == "RuntimeError"
    assert failed_data["error"]["message"] == "JOB FAILURE"
    for data in (finished_data, failed_data):
        assert json.loads(json.dumps(data)) == data
