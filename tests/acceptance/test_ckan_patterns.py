"""Real CKAN code's job patterns, ported by changing imports, through a real worker, per store.

- ckanext-xloader: ``enqueue_job(fn, [data], title=..., queue=..., rq_kwargs={"timeout": t})``
  (its ``get_current_job().id`` is another piece's test);
- datapusher-plus: the same with the timeout as CKAN 2.9's config gives it, a string
  (``'3600'``), and ``"push_to_datastore" in job.description``;
- CKAN's datastore: ``get_job_queue().enqueue_in(timedelta, fn, *args, job_id=fixed_id)``
  with a datetime argument, ``job_from_id(id).delete()`` cancelling the pending run, and
  the same id enqueued again once the run before it ended.

Also: a job scheduled 2 s ahead starts within a second of its time with idle workers.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Callable
from pathlib import Path

import pytest

import conveyor
import conveyor_test_jobs as jobs_module
from conveyor import JobState, get_job_queue, job_from_id
from conveyor import enqueue_job as toolkit_enqueue_job
from conveyor.exceptions import NoSuchJobError
from support import WorkerProcess, lines, wait_until

SITE_ID = "test.conveyor"


@pytest.fixture
def store_env(store_kind_url: str, subprocess_env: dict[str, str]) -> dict[str, str]:
    """conveyor configured on each store in turn; the environment for its worker processes."""
    url = store_kind_url
    conveyor.configure(settings={"conveyor.backend": url, "conveyor.site_id": SITE_ID})
    return {**subprocess_env, "CONVEYOR_BACKEND": url, "CONVEYOR_SITE_ID": SITE_ID}


@pytest.fixture
def worker_env(store_env: dict[str, str]) -> dict[str, str]:
    """The workers ``start_worker`` starts here use the store of the test's parameter."""
    return store_env


def ended(job: conveyor.Job) -> bool:
    return job.get_status() in {"finished", "failed", "canceled"}


def test_the_xloader_and_datapusher_plus_patterns_run_to_completion(
    start_worker: Callable[..., WorkerProcess], store_env: dict[str, str]
) -> None:
    timeout_from_config = "3600"  # ckan.jobs.timeout as CKAN 2.9's config hands it over
    start_worker("default", "xloader").wait_for_log("has started")
    pushed = toolkit_enqueue_job(
        jobs_module.push_to_datastore,
        [{"resource_id": "res-1"}],
        title="push res-1",
        rq_kwargs={"timeout": timeout_from_config},
    )
    loaded = toolkit_enqueue_job(
        jobs_module.xloader_data_into_datastore,
        [{"metadata": "res-2"}],
        title="xloader res-2",
        queue="xloader",
        rq_kwargs=dict(timeout=60),
    )
    assert "push_to_datastore" in pushed.description
    queued = get_job_queue().jobs + get_job_queue("xloader").jobs
    assert all(isinstance(job.description, str) for job in queued)
    assert pushed.wait(timeout=30) == "pushed res-1"
    assert loaded.wait(timeout=30) == "loaded res-2"
    assert pushed.timeout == 3600
    assert job_from_id(pushed.id).is_finished


def test_the_ckan_datastore_pattern_runs_to_completion(
    start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    out = tmp_path / "runs.jsonl"
    when = dt.datetime(2026, 5, 6, 7, 8, 9, tzinfo=zoneinfo.ZoneInfo("Europe/Oslo"))
    fixed_id = "datastore_cleanup_job"
    start_worker().wait_for_log("has started")

    # A run scheduled, then cancelled before it was due with job_from_id(id).delete().
    queue = get_job_queue()
    queue.enqueue_in(dt.timedelta(seconds=60), jobs_module.record_call, str(out), "deleted",
                     when, job_id=fixed_id)  # fmt: skip
    assert job_from_id(fixed_id).get_status() == "scheduled"
    job_from_id(fixed_id).delete()
    with pytest.raises(NoSuchJobError):
        job_from_id(fixed_id)

    # The same id scheduled again runs, with its datetime argument intact.
    first = queue.enqueue_in(dt.timedelta(seconds=1), jobs_module.record_call, str(out),
                             "first", when, job_id=fixed_id)  # fmt: skip
    assert first.is_scheduled
    first.wait(timeout=30)

    # Once it ended, the id is free again (RQ's behaviour the datastore relies on).
    second = queue.enqueue_in(dt.timedelta(seconds=0), jobs_module.record_call, str(out),
                              "second", when.date(), job_id=fixed_id)  # fmt: skip
    second.wait(timeout=30)
    runs = [json.loads(line) for line in lines(out)]
    assert runs == [
        ["first", "datetime", "2026-05-06T07:08:09+02:00", "Europe/Oslo"],
        ["second", "date", "2026-05-06", None],
    ]
    assert job_from_id(fixed_id).state is JobState.FINISHED


def test_a_job_scheduled_two_seconds_ahead_starts_within_a_second_of_its_time(
    start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    for worker in (start_worker(), start_worker()):
        worker.wait_for_log("has started")  # idle, waiting for work
    began = tmp_path / "began.txt"
    job = conveyor.enqueue_in(dt.timedelta(seconds=2), jobs_module.now_to, [str(began)])
    due = job.record.run_at
    assert due is not None
    wait_until(lambda: ended(job), "the scheduled job to run")
    assert job.is_finished
    started = float(began.read_text(encoding="utf-8"))
    assert due <= started <= due + 1.0, f"started {started - due:.3f} s after its time"
