"""CKAN's own tests of ckan.lib.jobs and the job_* actions, restated against conveyor.

The reference's tests (ckan/tests/lib/test_jobs.py, the job_* tests of
ckan/tests/logic/action/test_get.py and test_delete.py) as the reference
behaviour document describes them. ``RQTestBase``'s helpers become
``enqueue()`` (``test_job`` by default) and ``all_jobs()`` (every queued job of
every queue in the store, of any site, queue by queue, FIFO); ``call_action``
becomes the management function of the same name; ``changed_config`` becomes
``conveyor.config.override``; ``recorded_logs`` becomes pytest's caplog. Where
the reference logs on ``ckan.lib.jobs`` / ``ckan.logic``, conveyor logs on
``conveyor.worker`` / ``conveyor.jobs``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import conveyor as jobs
import conveyor_test_jobs
from conveyor import config
from conveyor.api import backend
from conveyor.backends import NewJob


def enqueue(job: Callable[..., Any] | None = None, *args: Any, **kwargs: Any) -> jobs.Job:
    """RQTestBase.enqueue: enqueue ``job`` (default ``test_job``)."""
    return jobs.enqueue(job or jobs.test_job, *args, **kwargs)


def all_jobs() -> list[jobs.Job]:
    """RQTestBase.all_jobs: every queued job in the store, whatever its site."""
    store = backend()
    page = store.list_jobs(store.queue_names(""))
    return [jobs.Job(record, config.current()) for record in page.items]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


# -- lib: queue name prefixes -----------------------------------------------------------------
class TestQueueNamePrefixes:
    def test_queue_name_prefix_contains_site_id(self) -> None:
        prefix = jobs.add_queue_name_prefix("")
        assert config.current().site_id in prefix

    def test_queue_name_removal_with_prefix(self) -> None:
        plain = "foobar"
        prefixed = jobs.add_queue_name_prefix(plain)
        assert jobs.remove_queue_name_prefix(prefixed) == plain

    def test_queue_name_removal_without_prefix(self) -> None:
        with pytest.raises(ValueError, match=re.escape('Queue name "foobar" is not prefixed.')):
            jobs.remove_queue_name_prefix("foobar")


# -- lib: enqueue ----------------------------------------------------------------------------
class TestEnqueue:
    def test_enqueue_return_value(self) -> None:
        job = enqueue()
        assert isinstance(job, jobs.Job)

    def test_enqueue_args(self) -> None:
        enqueue()
        enqueue(args=[1, 2])
        found = all_jobs()
        assert len(found) == 2
        assert len(found[0].args) == 0
        assert found[1].args == [1, 2]

    def test_enqueue_kwargs(self) -> None:
        enqueue()
        enqueue(kwargs={"foo": 1})
        found = all_jobs()
        assert len(found) == 2
        assert found[0].kwargs == {}
        assert found[1].kwargs == {"foo": 1}

    def test_enqueue_title(self) -> None:
        enqueue()
        enqueue(title="Title")
        found = all_jobs()
        assert len(found) == 2
        assert found[0].meta["title"] is None
        assert found[1].meta["title"] == "Title"

    def test_enqueue_queue(self) -> None:
        enqueue()
        enqueue(queue="my_queue")
        found = all_jobs()
        assert len(found) == 2
        assert found[0].origin == jobs.add_queue_name_prefix("default")
        assert found[1].origin == jobs.add_queue_name_prefix("my_queue")

    def test_enqueue_timeout(self) -> None:
        enqueue()
        enqueue(rq_kwargs={"timeout": 0})
        enqueue(rq_kwargs={"timeout": -1})
        enqueue(rq_kwargs={"timeout": 3600})
        found = all_jobs()
        assert len(found) == 4
        assert [job.timeout for job in found] == [180, 180, -1, 3600]

    def test_enqueue_timeout_from_config(self) -> None:
        with config.override({"conveyor.jobs.timeout": 600}):
            enqueue()
            enqueue(rq_kwargs={"timeout": 0})  # quirk 7 fixed: the configured default
            enqueue(rq_kwargs={"timeout": 3600})
        assert [job.timeout for job in all_jobs()] == [600, 600, 3600]

    def test_enqueue_logs_the_job(self, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.INFO, logger="conveyor"):
            job = enqueue(title="Title", queue="my_queue")
        assert f'Added background job {job.id} ("Title") to queue "my_queue"' in caplog.messages


# -- lib: queues -------------------------------------------------------------------------------
class TestGetAllQueues:
    def test_foreign_queues_are_ignored(self) -> None:
        # Queues of this instance
        enqueue(queue="q1")
        enqueue(queue="q2")
        # A queue of another instance
        with config.override({"conveyor.site_id": "some-other-ckan-instance"}):
            enqueue(queue="q2")
        # A queue no conveyor site owns
        now = time.time()
        backend().enqueue(
            [
                NewJob(
                    id="foreign-job",
                    queue="q4",
                    func="conveyor.api:test_job",
                    payload=b"j[[],{}]",
                    created_at=now,
                    timeout=180,
                )
            ],
            now=now,
        )
        names = {jobs.remove_queue_name_prefix(q.name) for q in jobs.get_all_queues()}
        assert names == {"q1", "q2"}
        assert len(all_jobs()) == 4


class TestGetQueue:
    def test_get_queue_default_queue(self) -> None:
        q = jobs.get_queue()
        assert jobs.remove_queue_name_prefix(q.name) == jobs.DEFAULT_QUEUE_NAME

    def test_get_queue_other_queue(self) -> None:
        q = jobs.get_queue("my_queue")
        assert jobs.remove_queue_name_prefix(q.name) == "my_queue"


class TestJobFromID:
    def test_job_from_id_existing(self) -> None:
        job = enqueue()
        assert jobs.job_from_id(job.id) == job
        job = enqueue(queue="my_queue")
        assert jobs.job_from_id(job.id) == job

    def test_job_from_id_not_existing(self) -> None:
        with pytest.raises(KeyError):
            jobs.job_from_id("does-not-exist")


class TestDictizeJob:
    def test_dictize_job(self) -> None:
        job = enqueue(title="Title", queue="my_queue")
        d = jobs.dictize_job(job)
        assert d["id"] == job.id
        assert d["title"] == "Title"
        assert d["queue"] == "my_queue"
        created = dt.datetime.strptime(d["created"], "%Y-%m-%dT%H:%M:%S")
        assert abs((utc_now() - created).total_seconds()) < 10


# -- lib: the worker ---------------------------------------------------------------------------
class TestWorker:
    def test_worker_logging_lifecycle(self, caplog: pytest.LogCaptureFixture) -> None:
        queue = "my_queue"
        job = enqueue(queue=queue)
        with caplog.at_level(logging.INFO, logger="conveyor"):
            worker = jobs.Worker([queue])
            worker.work(burst=True)
        messages = [
            r.getMessage()
            for r in caplog.records
            if r.name == "conveyor.worker" and r.levelno == logging.INFO
        ]
        # Worker start, job start, job end, worker end.
        assert len(messages) == 4
        assert worker.name in messages[0]
        assert queue in messages[0]
        assert worker.name in messages[1]
        assert job.id in messages[1]
        assert worker.name in messages[2]
        assert job.id in messages[2]
        assert worker.name in messages[3]
        assert not messages[0].endswith(" ")  # quirk 11 fixed: no trailing space

    def test_worker_exception_logging(self, caplog: pytest.LogCaptureFixture) -> None:
        job = enqueue(conveyor_test_jobs.failing_job)
        worker = jobs.Worker()
        with caplog.at_level(logging.INFO, logger="conveyor"):
            worker.work(burst=True)
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert any(re.search("JOB FAILURE", message) for message in errors)
        assert (
            f"Job {job.id} on worker {worker.name} raised an exception: JOB FAILURE" in (errors[0])
        )

    def test_worker_default_queue(self) -> None:
        enqueue()
        enqueue(queue="my_queue")
        jobs.Worker().work(burst=True)
        found = all_jobs()
        assert len(found) == 1
        assert jobs.remove_queue_name_prefix(found[0].origin) == "my_queue"

    def test_worker_multiple_queues(self) -> None:
        enqueue()
        enqueue(queue="queue1")
        enqueue(queue="queue2")
        jobs.Worker(["queue1", "queue2"]).work(burst=True)
        found = all_jobs()
        assert len(found) == 1
        assert jobs.remove_queue_name_prefix(found[0].origin) == jobs.DEFAULT_QUEUE_NAME

    def test_worker_takes_one_queue_name_as_a_string(self) -> None:
        enqueue()
        enqueue(queue="queue1")
        jobs.Worker("queue1").work(burst=True)
        assert [job.queue for job in all_jobs()] == ["default"]

    def test_worker_drains_the_leftmost_queue_first(self, tmp_path: Path) -> None:
        order = tmp_path / "order.txt"
        enqueue(conveyor_test_jobs.touch, [str(order), "later 1"], queue="later")
        enqueue(conveyor_test_jobs.touch, [str(order), "sooner 1"], queue="sooner")
        enqueue(conveyor_test_jobs.touch, [str(order), "later 2"], queue="later")
        enqueue(conveyor_test_jobs.touch, [str(order), "sooner 2"], queue="sooner")
        jobs.Worker(["sooner", "later"]).work(burst=True)
        assert order.read_text().splitlines() == ["sooner 1", "sooner 2", "later 1", "later 2"]

    def test_worker_runs_the_before_fork_hook_in_the_supervisor(self) -> None:
        # The reference disposes of its database engine before each fork (#3365);
        # conveyor gives the application the same moment as a hook.
        calls: list[str] = []
        job = enqueue(conveyor_test_jobs.succeed)
        jobs.Worker(before_fork=lambda: calls.append("before fork")).work(burst=True)
        assert calls == ["before fork"]
        job.refresh()
        assert job.state is jobs.JobState.FINISHED


# -- actions: job_list ------------------------------------------------------------------------
class TestJobList:
    def test_all_queues(self) -> None:
        job1 = enqueue()
        job2 = enqueue()
        job3 = enqueue(queue="my_queue")
        found = jobs.job_list()
        assert len(found) == 3
        assert {job["id"] for job in found} == {job1.id, job2.id, job3.id}

    def test_specific_queues(self) -> None:
        enqueue()
        job2 = enqueue(queue="q2")
        job3 = enqueue(queue="q3")
        job4 = enqueue(queue="q3")
        found = jobs.job_list(queues=["q2"])
        assert len(found) == 1
        assert found[0]["id"] == job2.id
        found = jobs.job_list(queues=["q2", "q3"])
        assert len(found) == 3
        assert {job["id"] for job in found} == {job2.id, job3.id, job4.id}

    def test_limit(self) -> None:
        for _ in range(3):
            enqueue()
        enqueue(queue="q")
        assert len(jobs.job_list(limit=2)) == 2
        assert len(jobs.job_list()) == 4
        assert jobs.job_list(limit=0) == []

    def test_ids_only(self) -> None:
        job1 = enqueue()
        job2 = enqueue(queue="q")
        assert jobs.job_list(ids_only=True) == [job1.id, job2.id]

    def test_queues_must_be_a_list(self) -> None:
        with pytest.raises(jobs.ValidationError) as caught:
            jobs.job_list(queues="q1")  # type: ignore[arg-type]
        assert caught.value.errors == {"queues": ["Not a list"]}

    def test_limit_must_be_an_integer(self) -> None:
        with pytest.raises(jobs.ValidationError) as caught:
            jobs.job_list(limit="ten")  # type: ignore[arg-type]
        assert caught.value.errors == {"limit": ["Invalid integer"]}


# -- actions: job_show ------------------------------------------------------------------------
class TestJobShow:
    def test_existing_job(self) -> None:
        job = enqueue(queue="my_queue", title="Title")
        d = jobs.job_show(job.id)
        assert d["id"] == job.id
        assert d["title"] == "Title"
        assert d["queue"] == "my_queue"
        created = dt.datetime.strptime(d["created"], "%Y-%m-%dT%H:%M:%S")
        assert abs((utc_now() - created).total_seconds()) < 10

    def test_not_existing_job(self) -> None:
        with pytest.raises(jobs.NoSuchJobError):
            jobs.job_show("does-not-exist")

    def test_missing_id(self) -> None:
        with pytest.raises(jobs.ValidationError) as caught:
            jobs.job_show("")
        assert caught.value.errors == {"id": ["Missing value"]}


# -- actions: job_clear -----------------------------------------------------------------------
class TestJobClear:
    def test_all_queues(self) -> None:
        enqueue()
        enqueue(queue="q")
        enqueue(queue="q")
        enqueue(queue="q")
        queues = jobs.job_clear()
        assert {"default", "q"} == set(queues)
        assert all_jobs() == []

    def test_specific_queues(self, caplog: pytest.LogCaptureFixture) -> None:
        job1 = enqueue()
        enqueue(queue="q1")
        enqueue(queue="q1")
        enqueue(queue="q2")
        with caplog.at_level(logging.INFO, logger="conveyor"):
            queues = jobs.job_clear(queues=["q1", "q2"])
        assert {"q1", "q2"} == set(queues)
        found = all_jobs()
        assert len(found) == 1
        assert found[0] == job1
        info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
        assert any(re.search("q1", message) for message in info)
        assert any(re.search("q2", message) for message in info)


# -- actions: job_cancel ----------------------------------------------------------------------
class TestJobCancel:
    def test_existing_job(self, caplog: pytest.LogCaptureFixture) -> None:
        job1 = enqueue(queue="q")
        job2 = enqueue(queue="q")
        with caplog.at_level(logging.INFO, logger="conveyor"):
            jobs.job_cancel(job1.id)
        found = all_jobs()
        assert len(found) == 1
        assert found[0] == job2
        with pytest.raises(KeyError):
            jobs.job_from_id(job1.id)
        info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
        assert any(re.search(re.escape(job1.id), message) for message in info)

    def test_not_existing_job(self) -> None:
        with pytest.raises(jobs.NoSuchJobError):
            jobs.job_cancel("does-not-exist")
