"""Attempts told straight (``jobs show``, the API); a registry that keeps up with the worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import conveyor
import conveyor_test_jobs as test_jobs
from conveyor import JobState, Retry
from conveyor.api import backend
from conveyor.backends import ErrorInfo, JobRecord, WorkerInfo
from conveyor.cli import main
from conveyor.history import attempt_history, current_error
from support import wait_until


@pytest.fixture
def store(store_kind_url: str) -> Iterator[str]:
    """The test's configuration, on each kind of store."""
    with conveyor.config.override({"conveyor.backend": store_kind_url}):
        yield store_kind_url


def show(job_id: str) -> list[str]:
    """``conveyor jobs show ID``, run against the configuration in force."""
    config = conveyor.config.current()
    env = {"CONVEYOR_BACKEND": config.backend, "CONVEYOR_SITE_ID": config.site_id}
    printed = CliRunner().invoke(main, ["jobs", "show", job_id], env=env)
    assert printed.exit_code == 0, printed.output
    return printed.stdout.splitlines()


def run_until(job: conveyor.Job, state: JobState) -> None:
    """Burst workers until ``job`` reaches ``state`` (its retries are due at once)."""

    def reached() -> bool:
        conveyor.Worker().work(burst=True)
        job.refresh()
        return job.state is state

    wait_until(reached, f"job {job.id} to be {state.value}")


def test_a_job_that_failed_twice_then_finished_lists_its_three_attempts(
    store: str, tmp_path: Path
) -> None:
    runs = tmp_path / "runs.txt"
    job = conveyor.enqueue(test_jobs.fail_times, [str(runs), 2], retry=Retry(max=2, interval=0))
    before = time.time()

    run_until(job, JobState.FINISHED)

    shown = conveyor.job_show(job.id)
    assert shown["error"] is None  # the old errors are history, not the job's state
    assert [e["message"] for e in shown["errors"]] == ["failure 1 of 2", "failure 2 of 2"]
    history = shown["history"]
    assert [(h["attempt"], h["outcome"]) for h in history] == [
        (1, "failed, tried again"),
        (2, "failed, tried again"),
        (3, "finished"),
    ]
    assert [h["error"] for h in history] == [
        {"type": "RuntimeError", "message": "failure 1 of 2"},
        {"type": "RuntimeError", "message": "failure 2 of 2"},
        None,
    ]
    starts = [conveyor.job.to_datetime(e.started_at) for e in job.errors]
    assert all(s is not None and s.timestamp() >= before - 1 for s in starts)
    assert all(h["started"] is not None and h["ended"] is not None for h in history)
    assert history[2]["started"] == shown["started"]
    assert history[2]["ended"] == shown["ended"]

    lines = show(job.id)
    assert "Attempts: 3 (of at most 3)" in lines
    attempts = [line for line in lines if line.startswith("  #")]
    assert attempts[0].startswith("  #1 failed, tried again, ")
    assert attempts[0].endswith(": RuntimeError: failure 1 of 2")
    assert attempts[2].startswith("  #3 finished, ")
    assert not any(line.startswith(("Error:", "Last error:")) for line in lines)


def test_a_job_that_failed_for_good_shows_its_error_as_current(store: str) -> None:
    job = conveyor.enqueue(test_jobs.failing_job)

    run_until(job, JobState.FAILED)

    shown = conveyor.job_show(job.id)
    assert shown["error"] is not None
    assert shown["error"]["message"] == "JOB FAILURE"
    assert [(h["attempt"], h["outcome"]) for h in shown["history"]] == [(1, "failed")]
    assert "Error:   RuntimeError: JOB FAILURE" in show(job.id)


def test_an_error_recorded_before_attempts_had_a_start_still_loads() -> None:
    old = {"type": "RuntimeError", "message": "x", "traceback": "", "attempt": 1, "at": 5.0}
    loaded = ErrorInfo.from_dict(old)
    assert loaded.started_at is None
    assert loaded.to_dict() == old  # written back as it was
    assert ErrorInfo.from_dict({**old, "started_at": 4.0}).started_at == 4.0


# -- the registry keeps up --------------------------------------------------------------------
def spy_on_registrations(monkeypatch: pytest.MonkeyPatch) -> list[WorkerInfo]:
    """Every registration the worker makes, kept in order (the store still gets each)."""
    store = backend()
    made: list[WorkerInfo] = []
    register = store.register_worker

    def spy(info: WorkerInfo, *, ttl: float, now: float) -> None:
        made.append(info)
        register(info, ttl=ttl, now=now)

    monkeypatch.setattr(store, "register_worker", spy)
    return made


def test_a_worker_is_listed_busy_while_a_short_job_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A job shorter than the heartbeat period (2 s) still shows the worker busy."""
    made = spy_on_registrations(monkeypatch)
    job = conveyor.enqueue(test_jobs.touch_then_sleep, [str(tmp_path / "ran"), 1.2])

    conveyor.Worker().work(burst=True)

    job.refresh()
    assert job.state is JobState.FINISHED
    started, ended = job.record.started_at, job.record.ended_at
    assert started is not None
    assert ended is not None
    busy = [info for info in made if info.state == "busy"]
    assert busy, [(info.state, info.heartbeat_at) for info in made]
    assert started <= busy[0].heartbeat_at <= ended
    assert busy[0].jobs == (job.id,)


def test_quick_jobs_do_not_cost_a_registration_each(monkeypatch: pytest.MonkeyPatch) -> None:
    made = spy_on_registrations(monkeypatch)
    jobs = conveyor.enqueue_many([{"fn": test_jobs.succeed} for _ in range(300)])
    began = time.monotonic()

    conveyor.Worker().work(burst=True)

    elapsed = time.monotonic() - began
    assert all(conveyor.job_from_id(j.id).state is JobState.FINISHED for j in jobs[:5])
    # One at start, then at most one per gap (0.5 s) and one per heartbeat (2 s).
    assert len(made) <= 2 + elapsed / 0.5 + elapsed / 2, len(made)


def test_the_counters_count_final_outcomes_and_retried_attempts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = spy_on_registrations(monkeypatch)
    conveyor.enqueue(test_jobs.failing_job)
    conveyor.enqueue(test_jobs.failing_job, retry=Retry(max=1, interval=0))
    conveyor.enqueue(test_jobs.succeed)
    worker = conveyor.Worker(name="ada")

    worker.work(burst=True)

    # The retried job ran twice: one attempt retried, then failed for good.
    assert (worker.jobs_finished, worker.jobs_failed, worker.attempts_retried) == (1, 2, 1)
    assert {info.name for info in made} == {"ada"}


def test_the_web_api_lists_the_attempts_as_its_schema_says(tmp_path: Path) -> None:
    pytest.importorskip("flask")
    from conveyor.web import auth, create_app
    from conveyor.web.openapi import COMPONENTS

    job = conveyor.enqueue(
        test_jobs.fail_times, [str(tmp_path / "runs"), 1], retry=Retry(max=1, interval=0)
    )
    run_until(job, JobState.FINISHED)
    token = auth.create_token("ops")[1]
    client = create_app().test_client()

    response = client.post(
        "/api/3/action/job_show", json={"id": job.id}, headers={"Authorization": f"Bearer {token}"}
    )

    shown = response.get_json()["result"]
    assert shown["error"] is None
    assert [(h["attempt"], h["outcome"]) for h in shown["history"]] == [
        (1, "failed, tried again"),
        (2, "finished"),
    ]
    assert set(shown) == set(COMPONENTS["Job"]["properties"])
    attempt = COMPONENTS["JobAttempt"]
    for entry in shown["history"]:
        assert set(entry) == set(attempt["properties"]) == set(attempt["required"])
        assert entry["outcome"] in attempt["properties"]["outcome"]["enum"]
    [error] = shown["errors"]
    assert (
        set(COMPONENTS["JobError"]["required"])
        <= set(error)
        <= set(COMPONENTS["JobError"]["properties"])
    )
    assert "started_at" in error


# -- the history, from records in every state -------------------------------------------------
def _record(state: JobState, errors: tuple[ErrorInfo, ...] = (), **times: float) -> JobRecord:
    return JobRecord(
        id="j1",
        queue="conveyor:site:default",
        func="tasks:record",
        payload=b"[[], {}]",
        state=state,
        created_at=1.0,
        enqueued_at=1.0,
        timeout=180,
        attempts=len(errors) + 1,
        errors=errors,
        **times,
    )


def _text(timestamp: float | None) -> str | None:
    return None if timestamp is None else str(timestamp)


def _outcomes(record: JobRecord) -> list[tuple[int, str, str | None]]:
    return [(h["attempt"], h["outcome"], h["ended"]) for h in attempt_history(record, _text)]


BOOM = ErrorInfo("RuntimeError", "boom", attempt=1, at=20.0, started_at=10.0)
MISSING = ErrorInfo("JobImportError", "Cannot import module 'tasks'", attempt=1, at=5.0)


def test_a_running_job_shows_its_attempt_running() -> None:
    running = _record(JobState.STARTED, (BOOM,), started_at=30.0)
    assert _outcomes(running) == [(1, "failed, tried again", "20.0"), (2, "running", None)]


def test_a_job_canceled_while_it_ran_shows_that_attempt_canceled() -> None:
    canceled = _record(JobState.CANCELED, (BOOM,), started_at=30.0, ended_at=31.0)
    assert _outcomes(canceled) == [(1, "failed, tried again", "20.0"), (2, "canceled", "31.0")]


def test_a_job_canceled_while_waiting_for_a_retry_has_no_extra_attempt() -> None:
    waiting = _record(JobState.CANCELED, (BOOM,), started_at=10.0, ended_at=25.0)
    assert _outcomes(waiting) == [(1, "failed, tried again", "20.0")]


def test_a_job_whose_code_was_missing_shows_that_it_did_not_run() -> None:
    finished = _record(JobState.FINISHED, (MISSING,), started_at=30.0, ended_at=31.0)
    history = attempt_history(finished, _text)
    assert [(h["outcome"], h["started"]) for h in history] == [
        ("not run (code missing)", None),  # an error without a start time (older records)
        ("finished", "30.0"),
    ]
    assert current_error(finished) is None
    assert current_error(_record(JobState.SCHEDULED, (MISSING,))) == MISSING
