"""RQ job and queue names that real users' code reads, found missing by the audit, per store.

- ckanext-xloader's ``ckan xloader status`` prints each queued job's ``job._id`` (RQ's
  private attribute), its ``enqueued_at`` and the arguments it reads back out of
  ``job.description``;
- status pages written for RQ report ``job.exc_info`` (the failed job's traceback text);
- RQ's ``job.get_id()``, ``job.get_meta()`` (meta reloaded from the store, how a producer
  polls a job's progress), ``job.save()`` and ``queue.get_job_ids(offset, length)``.
"""

from __future__ import annotations

import datetime as dt

import pytest

import audit_jobs
import conveyor
import conveyor_test_jobs as jobs_module
from conveyor.exceptions import NoSuchJobError
from conveyor.testing import run_synchronously

SITE_ID = "test.conveyor"


@pytest.fixture
def store(store_kind: str, store_kind_url: str) -> str:
    """conveyor configured on each store in turn."""
    conveyor.configure(settings={"conveyor.backend": store_kind_url, "conveyor.site_id": SITE_ID})
    return store_kind


def run_all() -> None:
    conveyor.Worker().work(burst=True)


def test_xloader_status_reads_private_id_enqueued_at_and_the_call_from_description(
    store: str,
) -> None:
    data = {"metadata": {"resource_id": "res-1"}}
    job = conveyor.enqueue_job(jobs_module.xloader_data_into_datastore, [data], title="xloader")
    # ckanext-xloader's command.py, print_status(), as it is written:
    lines = []
    for queued in conveyor.get_queue().jobs:
        params = eval(  # the extension's own code does this
            queued.description.replace("conveyor_test_jobs.xloader_data_into_datastore", "")
        )
        lines.append(
            "{id} Enqueued={enqueued:%Y-%m-%d %H:%M} res_id={res_id}".format(
                id=queued._id,
                enqueued=queued.enqueued_at,
                res_id=params["metadata"]["resource_id"],
            )
        )
    enqueued = job.enqueued_at
    assert enqueued is not None
    assert lines == [f"{job.id} Enqueued={enqueued:%Y-%m-%d %H:%M} res_id=res-1"]


def test_exc_info_is_the_traceback_of_the_failed_run_and_none_otherwise(store: str) -> None:
    failing = conveyor.enqueue(jobs_module.failing_job)
    fine = conveyor.enqueue(jobs_module.add, [1, 2])
    assert failing.exc_info is None
    run_all()
    failing.refresh()
    fine.refresh()
    assert failing.is_failed
    assert failing.exc_info is not None
    assert failing.exc_info.startswith("Traceback (most recent call last):")
    assert failing.exc_info.rstrip().endswith("RuntimeError: JOB FAILURE")
    assert "conveyor_test_jobs.py" in failing.exc_info
    assert (fine.get_status(), fine.exc_info) == ("finished", None)


def test_exc_info_of_a_retried_job_that_finished_is_none(store: str, tmp_path: object) -> None:
    path = f"{tmp_path}/runs"
    job = conveyor.enqueue(jobs_module.fail_times, [path, 1], retry=1)
    run_all()
    job.refresh()
    if job.get_status() == "scheduled":  # the retry waits its interval (0 s by default)
        run_all()
    assert job.get_status() == "finished"
    assert job.error is not None  # conveyor keeps the failed attempt's error ...
    assert job.exc_info is None  # ... but RQ's exc_info is about the latest run only


def test_get_id_is_the_id(store: str) -> None:
    job = conveyor.enqueue(jobs_module.add, [1, 2], job_id="rq-get-id")
    assert job.get_id() == job.id == "rq-get-id"


def test_get_meta_reloads_what_another_process_saved(store: str) -> None:
    job = conveyor.enqueue(jobs_module.add, [1, 2], meta={"step": 1})
    elsewhere = conveyor.job_from_id(job.id)
    elsewhere.meta["step"] = 2
    elsewhere.save_meta()
    assert job.meta["step"] == 1  # a snapshot, as RQ's job.meta
    assert job.get_meta(refresh=False)["step"] == 1
    assert job.get_meta() == {"step": 2, "title": None}
    assert job.meta["step"] == 2


def test_save_stores_meta(store: str) -> None:
    job = conveyor.enqueue(jobs_module.add, [1, 2])
    job.meta["owner"] = "xloader"
    job.save()
    assert conveyor.job_from_id(job.id).meta == {"owner": "xloader", "title": None}


def test_save_of_a_deleted_job_is_no_such_job(store: str) -> None:
    job = conveyor.enqueue(jobs_module.add, [1, 2])
    conveyor.job_from_id(job.id).delete()
    job.meta["owner"] = "late"
    with pytest.raises(NoSuchJobError):
        job.save()


def test_queue_get_job_ids_slices_like_get_jobs(store: str) -> None:
    queue = conveyor.get_queue("slices")
    ids = [queue.enqueue(jobs_module.add, 1, number).id for number in range(4)]
    later = queue.enqueue_in(dt.timedelta(hours=1), jobs_module.add, 1, 9)
    assert queue.get_job_ids() == ids == queue.job_ids
    assert queue.get_job_ids(1, 2) == ids[1:3] == [job.id for job in queue.get_jobs(1, 2)]
    assert queue.get_job_ids(offset=3) == ids[3:]
    assert later.id not in queue.get_job_ids()


def test_get_meta_in_a_running_job_in_a_worker(store: str) -> None:
    job = conveyor.enqueue(audit_jobs.read_own_meta, meta={"given": 1})
    run_all()
    assert job.wait(timeout=10) == {"given": 1, "seen": 1, "title": None}


def test_get_meta_in_a_job_run_synchronously_keeps_its_meta(store: str) -> None:
    with run_synchronously():
        job = conveyor.enqueue(audit_jobs.read_own_meta, meta={"given": 1})
    assert job.result == {"given": 1, "seen": 1, "title": None}
