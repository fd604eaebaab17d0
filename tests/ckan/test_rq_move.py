"""Moving jobs left waiting in RQ into conveyor (``ckan conveyor move-rq-jobs``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import ckan_test_jobs
import pytest
import redis
import rq
import rq.registry
from ckan.cli.cli import ckan
from ckan.lib import jobs

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def site_id(ckan_config: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A site id of this test's own: RQ's keys live in the shared Redis."""
    site = f"mover-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("CKAN_SITE_ID", site)  # survives `ckan` reloading its config
    monkeypatch.setitem(ckan_config, "ckan.site_id", site)
    yield site
    connection = redis.Redis.from_url(REDIS_URL)
    for queue in rq.Queue.all(connection=connection):
        if queue.name.startswith(f"ckan:{site}:"):
            scheduled = rq.registry.ScheduledJobRegistry(queue=queue)
            for job_id in scheduled.get_job_ids():
                scheduled.remove(job_id, delete_job=True)
            queue.empty()
            queue.delete()
    connection.close()


def rq_queue(site: str, name: str) -> rq.Queue:
    """One of the site's queues as CKAN's RQ setup named it."""
    return rq.Queue(f"ckan:{site}:{name}", connection=redis.Redis.from_url(REDIS_URL))


def test_waiting_rq_jobs_are_moved_once_and_then_run(
    site_id: str, cli: Any, tmp_path: Path
) -> None:
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    default, other = rq_queue(site_id, "default"), rq_queue(site_id, "other")
    moved_1 = default.enqueue_call(
        ckan_test_jobs.write, args=[str(first), "one"], timeout=77, meta={"title": "First"}
    )
    moved_2 = other.enqueue_call(ckan_test_jobs.write, kwargs={"path": str(second), "text": "2"})
    stuck = default.enqueue_call("no_such_module_anywhere.job", args=[1])
    later = other.enqueue_in(timedelta(hours=1), ckan_test_jobs.write, str(tmp_path / "no"), "x")

    result = cli.invoke(ckan, ["conveyor", "move-rq-jobs"])
    assert result.exit_code == 1, result.output
    assert f'Moved job {moved_1.id} ("First") to queue "default"' in result.output
    assert f'Moved job {moved_2.id} to queue "other"' in result.output
    assert f"Could not move job {stuck.id}" in result.output
    assert "no_such_module_anywhere" in result.output
    assert "2 moved, 0 already moved, 1 left in RQ" in result.output
    assert '1 scheduled or deferred job(s) of queue "other" stay in RQ' in result.output
    assert default.get_job_ids() == [stuck.id]
    assert other.get_job_ids() == []

    job = jobs.job_from_id(moved_1.id)
    assert (job.title, job.queue, job.timeout, job.args) == (
        "First",
        "default",
        77,
        [str(first), "one"],
    )
    assert jobs.job_from_id(moved_2.id).kwargs == {"path": str(second), "text": "2"}

    again = cli.invoke(ckan, ["conveyor", "move-rq-jobs"])
    assert "0 moved, 0 already moved, 1 left in RQ" in again.output
    assert {j.id for q in jobs.get_all_queues() for j in q.jobs} == {moved_1.id, moved_2.id}
    with pytest.raises(KeyError):
        jobs.job_from_id(later.id)

    jobs.Worker(["default", "other"]).work(burst=True)
    assert first.read_text() == "one"
    assert second.read_text() == "2"


def test_a_job_moved_by_an_interrupted_run_leaves_rq_without_a_second_copy(
    site_id: str, cli: Any, tmp_path: Path
) -> None:
    queue = rq_queue(site_id, "default")
    job = queue.enqueue_call(ckan_test_jobs.write, args=[str(tmp_path / "x"), "x"])
    # An earlier run stored the job in conveyor, then stopped before removing it from RQ.
    jobs.enqueue(ckan_test_jobs.write, [str(tmp_path / "x"), "x"], rq_kwargs={"job_id": job.id})

    result = cli.invoke(ckan, ["conveyor", "move-rq-jobs"])
    assert result.exit_code == 0, result.output
    assert f"Job {job.id} was already in conveyor; removed from RQ" in result.output
    assert "0 moved, 1 already moved, 0 left in RQ" in result.output
    assert queue.get_job_ids() == []
    assert [j.id for j in jobs.get_queue().jobs] == [job.id]
