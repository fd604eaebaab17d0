"""Retry policies honoured by a real worker: errors recorded, intervals waited, defaults used."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

import conveyor
import conveyor_test_jobs as test_jobs
from conveyor import JobState, Retry


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def fetch(job: conveyor.Job) -> conveyor.Job:
    job.refresh()
    return job


# -- in a worker -------------------------------------------------------------------------
def test_a_job_failing_twice_then_succeeding_finishes_with_both_errors_recorded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="conveyor")
    counter = tmp_path / "runs.txt"
    job = conveyor.enqueue(test_jobs.fail_times, [str(counter), 2], retry=2)

    conveyor.Worker().work(burst=True)

    job = fetch(job)
    assert job.state is JobState.FINISHED
    assert job.result == 3
    assert job.attempts == 3
    assert [(e.type, e.message, e.attempt) for e in job.errors] == [
        ("RuntimeError", "failure 1 of 2", 1),
        ("RuntimeError", "failure 2 of 2", 2),
    ]
    assert "RuntimeError: failure 2 of 2" in job.errors[1].traceback
    assert len(lines(counter)) == 3
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("conveyor")]
    assert any(job.id in line and "retry 1 of 2 in 0.0s" in line for line in logged)
    assert any(job.id in line and "retry 2 of 2 in 0.0s" in line for line in logged)


def test_a_job_that_keeps_failing_fails_after_its_retries(tmp_path: Path) -> None:
    counter = tmp_path / "runs.txt"
    job = conveyor.enqueue(test_jobs.fail_times, [str(counter), 10], retry=1)

    conveyor.Worker().work(burst=True)

    job = fetch(job)
    assert job.state is JobState.FAILED
    assert job.attempts == 2
    assert [e.message for e in job.errors] == ["failure 1 of 10", "failure 2 of 10"]
    assert len(lines(counter)) == 2


def test_without_a_policy_a_failing_job_fails_once(tmp_path: Path) -> None:
    counter = tmp_path / "runs.txt"
    job = conveyor.enqueue(test_jobs.fail_times, [str(counter), 1])

    conveyor.Worker().work(burst=True)

    job = fetch(job)
    assert job.state is JobState.FAILED
    assert job.attempts == 1
    assert [e.message for e in job.errors] == ["failure 1 of 1"]
    assert len(lines(counter)) == 1


def test_a_retry_waits_for_its_interval_and_a_burst_worker_does_not_run_it_early(
    tmp_path: Path,
) -> None:
    counter = tmp_path / "runs.txt"
    job = conveyor.enqueue(
        test_jobs.fail_times, [str(counter), 10], retry=Retry(max=3, interval=[0, 60])
    )

    conveyor.Worker().work(burst=True)  # the first retry is due at once, the second in 60 s
    conveyor.Worker().work(burst=True)

    job = fetch(job)
    assert job.state is JobState.SCHEDULED
    assert job.attempts == 2
    assert len(job.errors) == 2
    assert len(lines(counter)) == 2
    run_at = job.record.run_at
    assert run_at is not None
    assert run_at > time.time() + 30
    assert conveyor.job_show(job.id)["scheduled_for"] is not None
    assert conveyor.job_list(states=["scheduled"], ids_only=True) == [job.id]
    assert conveyor.job_list(ids_only=True) == []


def test_the_config_default_policy_retries_in_a_worker(tmp_path: Path) -> None:
    counter = tmp_path / "runs.txt"
    settings = {"conveyor.jobs.retries": 1, "conveyor.jobs.retry_interval": "0"}
    with conveyor.config.override(settings):
        job = conveyor.enqueue(test_jobs.fail_times, [str(counter), 1])
        conveyor.Worker().work(burst=True)

    job = fetch(job)
    assert job.state is JobState.FINISHED
    assert job.attempts == 2
    assert [e.message for e in job.errors] == ["failure 1 of 1"]
