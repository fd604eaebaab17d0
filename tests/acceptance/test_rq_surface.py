"""RQ's queue and job methods, with RQ's meanings, as CKAN code calls them (on SQLite)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from click.testing import CliRunner

import conveyor
import conveyor_test_jobs as test_jobs
from conveyor import JobState
from conveyor.cli import main
from conveyor.exceptions import (
    DuplicateJobError,
    InvalidJobError,
    JobFailedError,
    JobStateError,
    NoSuchJobError,
    ValidationError,
    WaitTimeoutError,
)


@pytest.fixture
def env(conveyor_env: conveyor.Config) -> dict[str, str]:
    """The environment that points the CLI at the test's store."""
    return {"CONVEYOR_BACKEND": conveyor_env.backend, "CONVEYOR_SITE_ID": conveyor_env.site_id}


def run_all() -> None:
    conveyor.Worker().work(burst=True)


# -- Queue.enqueue and enqueue_call ------------------------------------------------------
def test_queue_enqueue_keeps_rq_reserved_keywords_and_passes_the_others_to_the_function() -> None:
    queue = conveyor.get_queue("rq")
    job = queue.enqueue(
        test_jobs.succeed,
        1,
        "two",
        level=3,
        job_id="rq-style",
        job_timeout=90,
        description="a described job",
        result_ttl=60,
        failure_ttl=120,
        meta={"owner": "me"},
        retry=2,
    )
    stored = conveyor.job_from_id("rq-style")
    assert stored.args == [1, "two"]
    assert stored.kwargs == {"level": 3}
    assert (stored.timeout, stored.description, stored.queue) == (90, "a described job", "rq")
    assert (stored.record.result_ttl, stored.record.failure_ttl) == (60, 120)
    assert stored.meta["owner"] == "me"
    assert stored.record.retry is not None
    assert job.origin == queue.name == conveyor.add_queue_name_prefix("rq")


def test_queue_enqueue_takes_rq_explicit_args_and_kwargs() -> None:
    job = conveyor.get_queue().enqueue(test_jobs.add, args=(1,), kwargs={"b": 2}, at_front=True)
    assert (job.args, job.kwargs) == ([1], {"b": 2})
    run_all()
    assert conveyor.job_from_id(job.id).result == 3


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((1,), {"args": (2,)}, "Positional arguments cannot be given"),
        ((), {"args": (2,), "extra": 1}, "extra"),
        ((), {"depends_on": "other-job"}, "'depends_on' option is not supported"),
        ((), {"ttl": 60}, "'ttl' option is not supported"),
        ((), {"on_success": print}, "'on_success' option is not supported"),
    ],
)
def test_queue_enqueue_refuses_what_conveyor_cannot_honour_and_stores_nothing(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidJobError, match=message):
        conveyor.get_queue().enqueue(test_jobs.succeed, *args, **kwargs)
    assert conveyor.job_list(states=list(JobState)) == []


def test_unset_rq_options_are_accepted() -> None:
    job = conveyor.get_queue().enqueue(test_jobs.succeed, ttl=None, depends_on=None, unique=False)
    assert job.kwargs == {}


def test_enqueue_call_is_rq_s_explicit_form() -> None:
    queue = conveyor.get_queue()
    job = queue.enqueue_call(
        func=test_jobs.add, args=[2], kwargs={"b": 5}, timeout=30, job_id="called", meta={}
    )
    assert (job.id, job.timeout, job.args, job.kwargs) == ("called", 30, [2], {"b": 5})
    with pytest.raises(InvalidJobError, match="'ttl' option is not supported"):
        queue.enqueue_call(test_jobs.succeed, ttl=10)
    with pytest.raises(InvalidJobError, match="Unknown enqueue_call option"):
        queue.enqueue_call(test_jobs.succeed, bogus=1)


def test_a_title_in_meta_is_the_job_s_title_as_ckan_keeps_it() -> None:
    job = conveyor.get_queue().enqueue_call(test_jobs.succeed, meta={"title": "A title"})
    assert conveyor.job_from_id(job.id).title == "A title"


# -- Queue's other methods ---------------------------------------------------------------
def test_queue_lists_counts_fetches_and_empties_its_jobs() -> None:
    queue = conveyor.get_job_queue("listed")
    first = queue.enqueue(test_jobs.succeed, 1)
    second = queue.enqueue(test_jobs.succeed, 2)
    elsewhere = conveyor.get_queue("other").enqueue(test_jobs.succeed)
    assert queue.count == 2
    assert queue.job_ids == [first.id, second.id]
    assert [job.args for job in queue.jobs] == [[1], [2]]
    assert [job.id for job in queue.get_jobs(offset=1, length=1)] == [second.id]
    fetched = queue.fetch_job(first.id)
    assert fetched is not None
    assert fetched.args == [1]
    assert queue.fetch_job(elsewhere.id) is None  # on another queue, as RQ answers
    assert queue.fetch_job("no-such-job") is None
    queue.enqueue_in(dt.timedelta(hours=1), test_jobs.succeed)
    assert queue.empty() == 3  # the scheduled one too
    assert queue.count == 0
    assert conveyor.get_queue("other").count == 1
    conveyor.get_queue("other").delete()
    assert conveyor.get_all_queues() == []


# -- delayed jobs --------------------------------------------------------------------------
def test_enqueue_in_stores_the_job_at_once_as_scheduled_with_its_due_time() -> None:
    before = time.time()
    job = conveyor.get_queue().enqueue_in(dt.timedelta(minutes=5), test_jobs.succeed, "x")
    assert job.state is JobState.SCHEDULED
    stored = conveyor.job_from_id(job.id)
    assert stored.state is JobState.SCHEDULED
    assert stored.is_scheduled
    assert stored.record.run_at is not None
    assert before + 300 <= stored.record.run_at <= time.time() + 300
    run_all()  # not due: a burst worker leaves it alone
    assert stored.get_status() == "scheduled"


def test_enqueue_at_reads_an_aware_datetime_as_its_instant_and_a_naive_one_as_local_time() -> None:
    aware = dt.datetime(2030, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    job = conveyor.get_queue().enqueue_at(aware, test_jobs.succeed)
    assert job.record.run_at == aware.timestamp()
    naive = dt.datetime(2030, 1, 1, 12)
    job = conveyor.enqueue_at(naive, test_jobs.succeed, ["x"], title="later")
    assert job.record.run_at == naive.astimezone().timestamp()
    assert conveyor.job_from_id(job.id).title == "later"


def test_module_enqueue_in_takes_the_ckan_argument_style() -> None:
    job = conveyor.enqueue_in(
        dt.timedelta(seconds=60), test_jobs.add, [1], {"b": 2}, title="t", queue="q",
        rq_kwargs={"timeout": 30, "job_id": "later-1"},
    )  # fmt: skip
    stored = conveyor.job_from_id("later-1")
    assert (stored.queue, stored.title, stored.timeout, stored.state) == (
        "q", "t", 30, JobState.SCHEDULED,
    )  # fmt: skip
    assert job.args == [1]


def test_a_job_scheduled_in_the_past_runs_at_once() -> None:
    job = conveyor.enqueue_in(-5, test_jobs.add, [1, 1])
    run_all()
    assert job.wait(timeout=5) == 2


@pytest.mark.parametrize("when", ["2030-01-01", 1_900_000_000, None])
def test_enqueue_at_refuses_what_is_not_a_datetime(when: object) -> None:
    with pytest.raises(InvalidJobError, match="must be a datetime"):
        conveyor.get_queue().enqueue_at(when, test_jobs.succeed)
    assert conveyor.job_list(states=list(JobState)) == []


@pytest.mark.parametrize("delay", ["60", float("nan"), True])
def test_enqueue_in_refuses_what_is_not_a_delay(delay: object) -> None:
    with pytest.raises(InvalidJobError, match="timedelta or seconds"):
        conveyor.enqueue_in(delay, test_jobs.succeed)  # type: ignore[arg-type]
    assert conveyor.job_list(states=list(JobState)) == []


def test_a_scheduled_job_can_be_canceled_or_deleted_before_it_runs() -> None:
    first = conveyor.enqueue_in(3600, test_jobs.succeed)
    second = conveyor.enqueue_in(3600, test_jobs.succeed)
    conveyor.job_cancel(first.id)
    second.delete()
    assert conveyor.job_list(states=["scheduled"]) == []


# -- Job methods -----------------------------------------------------------------------------
def test_job_fetch_returns_this_site_s_job_and_ignores_a_connection() -> None:
    job = conveyor.enqueue(test_jobs.succeed, ["x"])
    fetched = conveyor.Job.fetch(job.id, connection=object())
    assert fetched == job
    assert fetched.args == ["x"]
    with pytest.raises(NoSuchJobError):
        conveyor.Job.fetch("no-such-job")


def test_status_checks_read_the_store_as_rq_s_do() -> None:
    job = conveyor.enqueue(test_jobs.add, [2, 3])
    assert job.is_queued
    assert job.return_value() is None
    run_all()
    assert job.get_status(refresh=False) == "queued"  # as last loaded
    assert job.is_finished  # reloads
    assert not job.is_queued
    assert not job.is_started
    assert not job.is_failed
    assert not job.is_canceled
    assert job.return_value() == 5
    assert job.result == 5
    assert job.enqueued_at is not None
    assert job.started_at is not None
    assert job.ended_at is not None
    assert job.ended_at >= job.started_at >= job.enqueued_at


def test_a_failed_job_is_failed_and_has_no_return_value() -> None:
    job = conveyor.enqueue(test_jobs.failing_job, rq_kwargs={"retry": 0}, max_attempts=1)
    run_all()
    assert job.is_failed
    assert job.return_value(refresh=True) is None


def test_the_description_is_rq_s_call_string_when_none_was_given() -> None:
    job = conveyor.enqueue(test_jobs.push_to_datastore, [{"resource_id": "r1"}], {"b": 2, "a": 1})
    assert job.description == (
        "conveyor_test_jobs.push_to_datastore({'resource_id': 'r1'}, a=1, b=2)"
    )
    assert "push_to_datastore" in conveyor.job_from_id(job.id).description
    long = conveyor.enqueue(test_jobs.echo, ["x" * 200])
    shown = long.description
    assert shown.startswith("conveyor_test_jobs.echo('xxx")
    assert shown.endswith("...)")
    assert len(shown) == len("conveyor_test_jobs.echo()") + 75
    given = conveyor.enqueue(test_jobs.succeed, description="mine")
    assert given.description == "mine"


def test_cancel_of_a_queued_job_removes_it_and_of_an_ended_one_is_refused() -> None:
    job = conveyor.enqueue(test_jobs.succeed)
    job.cancel()
    assert job.get_status(refresh=False) == "canceled"
    assert job.is_canceled  # its record is gone: the state it was last seen in
    with pytest.raises(NoSuchJobError):
        conveyor.job_from_id(job.id)
    done = conveyor.enqueue(test_jobs.succeed)
    run_all()
    with pytest.raises(JobStateError, match="finished"):
        done.cancel()


def test_delete_removes_an_ended_job_s_record_too() -> None:
    job = conveyor.enqueue(test_jobs.succeed)
    run_all()
    conveyor.job_from_id(job.id).delete()
    with pytest.raises(NoSuchJobError):
        conveyor.job_from_id(job.id)
    job.delete()  # gone already: nothing to do


# -- job ids reused -----------------------------------------------------------------------------
def test_the_id_of_an_ended_job_can_be_used_again_but_not_that_of_a_waiting_one() -> None:
    first = conveyor.enqueue(test_jobs.add, [1, 1], job_id="fixed")
    with pytest.raises(DuplicateJobError, match="fixed"):
        conveyor.get_queue().enqueue(test_jobs.add, 2, 2, job_id="fixed")
    run_all()
    assert first.wait(timeout=5) == 2
    conveyor.get_queue().enqueue(test_jobs.add, 3, 3, job_id="fixed")
    again = conveyor.job_from_id("fixed")
    assert (again.state, again.args) == (JobState.QUEUED, [3, 3])
    run_all()
    assert again.wait(timeout=5) == 6


# -- wait -----------------------------------------------------------------------------------------
def test_wait_returns_the_result_of_a_job_that_finished() -> None:
    job = conveyor.enqueue(test_jobs.add, [20, 22])
    run_all()
    assert job.wait() == 42
    assert conveyor.wait_for_job(job.id, timeout=1) == 42
    assert conveyor.wait_for_job(job) == 42


def test_wait_raises_the_error_of_a_job_that_failed() -> None:
    job = conveyor.enqueue(test_jobs.failing_job, max_attempts=1)
    run_all()
    with pytest.raises(JobFailedError) as caught:
        job.wait(timeout=5)
    assert caught.value.state == "failed"
    assert caught.value.error is not None
    assert caught.value.error.type == job.record.errors[-1].type
    assert caught.value.job_id in str(caught.value)


def test_wait_times_out_on_a_job_that_does_not_end_and_leaves_it_be() -> None:
    job = conveyor.enqueue(test_jobs.succeed)
    with pytest.raises(WaitTimeoutError, match=r"did not end within 0\.2 s") as caught:
        job.wait(timeout=0.2)
    assert isinstance(caught.value, TimeoutError)
    assert job.is_queued


def test_wait_on_a_job_canceled_before_it_ran_raises() -> None:
    job = conveyor.enqueue(test_jobs.succeed)
    conveyor.job_cancel(job.id)
    with pytest.raises(JobFailedError, match="gone"):
        job.wait(timeout=5)


@pytest.mark.parametrize("timeout", [-1, float("inf"), "5", True])
def test_wait_refuses_a_bad_timeout(timeout: object) -> None:
    job = conveyor.enqueue(test_jobs.succeed)
    with pytest.raises(ValidationError, match="timeout"):
        job.wait(timeout=timeout)  # type: ignore[arg-type]


# -- the CLI ---------------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["--with-scheduler", "--no-scheduler"])
def test_the_worker_accepts_ckan_s_scheduler_flags(flag: str, env: dict[str, str]) -> None:
    job = conveyor.enqueue(test_jobs.add, [1, 2])
    result = CliRunner().invoke(main, ["jobs", "worker", flag, "--burst"], env=env)
    assert result.exit_code == 0, result.output
    assert job.wait(timeout=5) == 3


def test_jobs_list_shows_a_scheduled_job_with_its_due_time(env: dict[str, str]) -> None:
    when = dt.datetime(2031, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc)
    job = conveyor.enqueue_at(when, test_jobs.succeed, title="Later")
    result = CliRunner().invoke(main, ["jobs", "list", "--state", "scheduled"], env=env)
    assert result.exit_code == 0, result.output
    assert f"{job.id} default scheduled due 2031-02-03T04:05:06" in result.output
    shown = CliRunner().invoke(main, ["jobs", "show", job.id], env=env)
    assert "Due:     2031-02-03T04:05:06" in shown.output
