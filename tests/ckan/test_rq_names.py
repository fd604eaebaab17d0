"""RQ's names inside a conveyor job of a CKAN site, for extensions written for RQ."""

from __future__ import annotations

import json
from pathlib import Path

import ckan_test_jobs
import pytest
from ckan.lib import jobs
from ckan.tests.helpers import recorded_logs

import conveyor


def test_rq_get_current_job_is_the_running_conveyor_job(tmp_path: Path) -> None:
    out = tmp_path / "seen.json"
    job = jobs.enqueue(ckan_test_jobs.describe_current_job, [str(out)], title="Look", queue="q1")
    jobs.Worker(["q1"]).work(burst=True)
    seen = json.loads(out.read_text())
    assert seen == {
        "is_rq_job": True,
        "id": job.id,
        "origin": jobs.add_queue_name_prefix("q1"),
        "description": jobs.job_from_id(job.id).description,
        "title": "Look",
    }
    stored = jobs.job_from_id(job.id)
    assert stored.state == conveyor.JobState.FINISHED
    assert stored.meta["seen"] == "by the job"


def test_rq_timeout_name_catches_conveyors_timeout(tmp_path: Path) -> None:
    out = tmp_path / "caught.txt"
    job = jobs.enqueue(
        ckan_test_jobs.overrun_catching_rq_timeout, [str(out)], rq_kwargs={"timeout": 1}
    )
    with recorded_logs("ckan.lib.jobs") as logs:
        jobs.Worker().work(burst=True)
    assert out.read_text() == "caught JobTimeoutException"
    stored = jobs.job_from_id(job.id)
    assert stored.state == conveyor.JobState.FAILED
    assert stored.error is not None
    assert "timeout" in stored.error.message.lower()
    assert any(job.id in message for message in logs.messages["error"])


def test_job_from_id_of_a_missing_job_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        jobs.job_from_id("no-such-job")
