"""The module API: enqueue and its options, queues, prefixes, sites, job_from_id, dictize_job."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import uuid
from typing import Any

import pytest

import conveyor
import conveyor_test_jobs
from conveyor import api, config
from conveyor.backends import JobRecord, JobState
from conveyor.exceptions import (
    DuplicateJobError,
    InvalidJobError,
    NoSuchJobError,
    SerializationError,
)

SITE_PREFIX = "conveyor:test.conveyor:"
OTHER_SITE = {"conveyor.site_id": "other.site"}


def queued_ids(queue: str = "default") -> list[str]:
    return conveyor.get_queue(queue).job_ids


# -- the Job enqueue() returns --------------------------------------------------------------
def test_enqueue_returns_the_stored_job() -> None:
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    job = conveyor.enqueue(conveyor_test_jobs.add, [1, 2], {"b": 3}, title="Adding", queue="q1")
    after = dt.datetime.now(dt.timezone.utc)
    assert isinstance(job, conveyor.Job)
    assert str(uuid.UUID(job.id)) == job.id
    assert job.func_name == "conveyor_test_jobs:add"
    assert job.args == [1, 2]
    assert job.kwargs == {"b": 3}
    assert job.title == "Adding"
    assert job.queue == "q1"
    assert job.origin == SITE_PREFIX + "q1"
    assert job.created_at.tzinfo is dt.timezone.utc
    assert before <= job.created_at <= after
    assert job.timeout == 180
    assert job.state is conveyor.JobState.QUEUED
    assert job.get_status() == "queued"
    assert job.meta == {"title": "Adding"}
    assert conveyor.job_from_id(job.id) == job


def test_enqueue_without_arguments_stores_empty_args_and_kwargs() -> None:
    job = conveyor.enqueue(conveyor_test_jobs.succeed)
    stored = conveyor.job_from_id(job.id)
    assert stored.args == []
    assert stored.kwargs == {}
    assert stored.queue == conveyor.DEFAULT_QUEUE_NAME == "default"


def test_new_job_ids_are_distinct_random_uuids_in_their_usual_text() -> None:
    ids = [api.new_job_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for job_id in ids:
        parsed = uuid.UUID(job_id)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == job_id
    # Every hex digit turns up in the random positions: no bits are stuck.
    assert set("".join(job_id[-12:] for job_id in ids)) == set("0123456789abcdef")


def test_built_jobs_and_their_records_are_what_their_constructors_make() -> None:
    # build_job() and JobRecord.of() fill the frozen dataclasses directly (assemble()).
    job = api.build_job(
        conveyor_test_jobs.add, [1], title="T", config=config.current(), now=5.0, retry=2
    )
    assert vars(job) == vars(dataclasses.replace(job))
    record = JobRecord.of(job, state=JobState.STARTED, enqueued_at=6.0, attempts=1, worker="w")
    assert vars(record) == vars(dataclasses.replace(record))
    assert (record.state, record.enqueued_at, record.attempts, record.worker) == (
        JobState.STARTED,
        6.0,
        1,
        "w",
    )
    assert (record.id, record.title, record.retry) == (job.id, "T", job.retry)
    assert record.run_at is None
    assert record.errors == ()
    with pytest.raises(TypeError, match="at_front"):
        JobRecord.of(job, state=JobState.QUEUED, enqueued_at=6.0, at_front=True)


def test_meta_title_is_none_without_a_title() -> None:
    job = conveyor.enqueue(conveyor_test_jobs.succeed)
    assert job.title is None
    assert job.meta == {"title": None}
    assert conveyor.job_from_id(job.id).meta["title"] is None


def test_refresh_of_a_cancelled_job_raises_no_such_job() -> None:
    job = conveyor.enqueue(conveyor_test_jobs.succeed)
    conveyor.job_cancel(job.id)
    with pytest.raises(NoSuchJobError):
        job.refresh()


def test_enqueue_logs_the_job_with_and_without_title(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="conveyor"):
        plain = conveyor.enqueue(conveyor_test_jobs.succeed)
        titled = conveyor.enqueue(conveyor_test_jobs.succeed, title="My job", queue="q")
    messages = [r.getMessage() for r in caplog.records if r.name == "conveyor.jobs"]
    assert messages == [
        f'Added background job {plain.id} to queue "default"',
        f'Added background job {titled.id} ("My job") to queue "q"',
    ]


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        ({"queue": ""}, "A queue name must be a non-blank string"),
        ({"queue": 5}, "A queue name must be a non-blank string"),
        ({"queue": "x" * 201}, "too long"),
        ({"queue": "bad\nname"}, "control characters"),
        ({"title": 5}, "title must be a string"),
        ({"rq_kwargs": {"job_id": "has space"}}, "job_id 'has space' is not valid"),
        ({"rq_kwargs": {"job_id": "../x"}}, "is not valid"),
        ({"rq_kwargs": {"meta": ["not", "a", "dict"]}}, "meta must be a dict"),
        ({"rq_kwargs": {"description": 5}}, "description must be a string"),
        ({"rq_kwargs": {"result_ttl": -2}}, "result_ttl must be between 0 and"),
        ({"rq_kwargs": {"failure_ttl": "1"}}, "failure_ttl must be a whole number"),
        ({"max_attempts": 0}, "max_attempts must be between 1 and"),
        ({"rq_kwargs": ["timeout", 5]}, "rq_kwargs must be a dict"),
    ],
)
def test_enqueue_refuses_bad_options_and_stores_nothing(
    call: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(InvalidJobError, match=fragment):
        conveyor.enqueue(conveyor_test_jobs.succeed, **call)
    assert conveyor.get_all_queues() == []


def test_meta_must_be_json_serializable() -> None:
    with pytest.raises(SerializationError, match=r"^meta\['when'\] is"):
        conveyor.enqueue(conveyor_test_jobs.succeed, rq_kwargs={"meta": {"when": {1}}})
    assert conveyor.get_all_queues() == []


# -- rq_kwargs ----------------------------------------------------------------------------
def test_rq_kwargs_are_honoured() -> None:
    first = conveyor.enqueue(conveyor_test_jobs.succeed)
    rq_kwargs = {
        "timeout": 3600,
        "job_id": "my-job-1",
        "at_front": True,
        "meta": {"owner": "me", "title": "ignored"},
        "result_ttl": 60,
        "failure_ttl": 120,
        "description": "A described job",
    }
    job = conveyor.enqueue(conveyor_test_jobs.succeed, title="Titled", rq_kwargs=rq_kwargs)
    stored = conveyor.job_from_id("my-job-1")
    assert job.id == stored.id == "my-job-1"
    assert stored.timeout == 3600
    assert stored.meta == {"owner": "me", "title": "Titled"}
    assert stored.record.result_ttl == 60
    assert stored.record.failure_ttl == 120
    assert stored.description == "A described job"
    assert queued_ids() == ["my-job-1", first.id]  # at_front


def test_rq_kwargs_of_the_caller_are_not_mutated() -> None:
    rq_kwargs: dict[str, Any] = {"job_id": "kept-as-is", "meta": {"a": 1}}
    snapshot = json.loads(json.dumps(rq_kwargs))
    conveyor.enqueue(conveyor_test_jobs.succeed, title="T", rq_kwargs=rq_kwargs)
    assert rq_kwargs == snapshot
    assert "timeout" not in rq_kwargs


def test_an_unsupported_rq_kwargs_key_is_refused_and_nothing_stored() -> None:
    with pytest.raises(InvalidJobError, match=r"Unsupported rq_kwargs key.*'depends_on'"):
        conveyor.enqueue(conveyor_test_jobs.succeed, rq_kwargs={"depends_on": "x", "ttl": 5})
    assert conveyor.get_all_queues() == []


def test_an_unknown_keyword_option_is_refused() -> None:
    with pytest.raises(InvalidJobError, match=r"Unknown enqueue option.*depends_on"):
        conveyor.enqueue(conveyor_test_jobs.succeed, depends_on="x")
    assert conveyor.get_all_queues() == []


def test_the_same_option_given_twice_is_refused() -> None:
    with pytest.raises(InvalidJobError, match="'timeout' was given both"):
        conveyor.enqueue(conveyor_test_jobs.succeed, rq_kwargs={"timeout": 5}, timeout=10)
    assert conveyor.get_all_queues() == []


def test_options_are_also_plain_keywords() -> None:
    job = conveyor.enqueue(
        conveyor_test_jobs.succeed, timeout=30, job_id="plain-kw", meta={"a": 1}
    )
    stored = conveyor.job_from_id("plain-kw")
    assert job.id == "plain-kw"
    assert stored.timeout == 30
    assert stored.meta == {"a": 1, "title": None}


# -- timeouts ---------------------------------------------------------------------------
def test_the_default_timeout_is_180_seconds() -> None:
    assert conveyor.enqueue(conveyor_test_jobs.succeed).timeout == 180


def test_the_configured_timeout_is_read_at_each_enqueue() -> None:
    first = conveyor.enqueue(conveyor_test_jobs.succeed)
    with config.override({"conveyor.jobs.timeout": 600}):
        second = conveyor.enqueue(conveyor_test_jobs.succeed)
        with config.override({"conveyor.jobs.timeout": 42}):
            third = conveyor.enqueue(conveyor_test_jobs.succeed)
    fourth = conveyor.enqueue(conveyor_test_jobs.succeed)
    timeouts = [conveyor.job_from_id(j.id).timeout for j in (first, second, third, fourth)]
    assert timeouts == [180, 600, 42, 180]


@pytest.mark.parametrize(
    ("given", "stored"),
    [(0, 600), (None, 600), (-1, -1), (3600, 3600), (1, 1), (2.5, 3)],
)
def test_explicit_timeouts(given: Any, stored: int) -> None:
    with config.override({"conveyor.jobs.timeout": 600}):
        job = conveyor.enqueue(conveyor_test_jobs.succeed, rq_kwargs={"timeout": given})
    assert conveyor.job_from_id(job.id).timeout == stored


@pytest.mark.parametrize("timeout", [-2, -0.5, True, math.nan, math.inf, [5], 10**20])
def test_invalid_timeouts_are_refused(timeout: Any) -> None:
    with pytest.raises(InvalidJobError, match="timeout must be"):
        conveyor.enqueue(conveyor_test_jobs.succeed, rq_kwargs={"timeout": timeout})
    assert conveyor.get_all_queues() == []


# -- enqueue_job, enqueue_many, duplicates ---------------------------------------------------
def test_enqueue_job_is_enqueue() -> None:
    assert conveyor.enqueue_job is conveyor.enqueue
    job = conveyor.enqueue_job(conveyor_test_jobs.succeed, ["x"], title="Via toolkit name")
    assert conveyor.job_from_id(job.id).title == "Via toolkit name"


def test_enqueue_many_stores_every_job_in_order() -> None:
    stored = conveyor.enqueue_many(
        [
            {"fn": conveyor_test_jobs.add, "args": [1, 2]},
            {"fn": conveyor_test_jobs.add, "args": [3, 4], "title": "second", "queue": "q"},
            {"fn": "conveyor_test_jobs:succeed", "rq_kwargs": {"job_id": "third"}},
        ]
    )
    assert [job.title for job in stored] == [None, "second", None]
    assert stored[2].id == "third"
    assert queued_ids("default") == [stored[0].id, "third"]
    assert queued_ids("q") == [stored[1].id]


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ({"fn": conveyor_test_jobs.succeed, "args": [{1, 2}]}, SerializationError),
        ({"fn": lambda: None}, InvalidJobError),
        ({"args": [1]}, InvalidJobError),
        ({"fn": conveyor_test_jobs.succeed, "queue": ""}, InvalidJobError),
        (
            {"fn": conveyor_test_jobs.succeed, "rq_kwargs": {"job_id": "existing"}},
            DuplicateJobError,
        ),
        ({"fn": conveyor_test_jobs.succeed, "rq_kwargs": {"job_id": "twice"}}, DuplicateJobError),
    ],
)
def test_enqueue_many_is_all_or_nothing(bad: dict[str, Any], error: type[Exception]) -> None:
    conveyor.enqueue(conveyor_test_jobs.succeed, job_id="existing")
    batch = [
        {"fn": conveyor_test_jobs.succeed, "queue": "batch"},
        {"fn": conveyor_test_jobs.succeed, "rq_kwargs": {"job_id": "twice"}, "queue": "batch"},
        bad,
        {"fn": conveyor_test_jobs.succeed, "queue": "batch"},
    ]
    with pytest.raises(error):
        conveyor.enqueue_many(batch)
    assert conveyor.job_list(ids_only=True) == ["existing"]
    assert [q.short_name for q in conveyor.get_all_queues()] == ["default"]


def test_enqueue_many_of_nothing_stores_nothing() -> None:
    assert conveyor.enqueue_many([]) == []
    assert conveyor.get_all_queues() == []


def test_a_reused_job_id_raises_duplicate_job_error_and_keeps_the_first_job() -> None:
    conveyor.enqueue(conveyor_test_jobs.add, [1, 2], job_id="only-once", queue="a")
    with pytest.raises(DuplicateJobError):
        conveyor.enqueue(conveyor_test_jobs.add, [5, 5], job_id="only-once", queue="b")
    stored = conveyor.job_from_id("only-once")
    assert stored.args == [1, 2]
    assert stored.queue == "a"
    assert conveyor.get_queue("b").count == 0


def test_a_job_id_of_another_site_is_a_duplicate_too() -> None:
    conveyor.enqueue(conveyor_test_jobs.succeed, job_id="shared-id")
    with config.override(OTHER_SITE), pytest.raises(DuplicateJobError):
        conveyor.enqueue(conveyor_test_jobs.succeed, job_id="shared-id")


# -- queues -------------------------------------------------------------------------------
def test_get_queue_gives_the_prefixed_queue_with_its_jobs() -> None:
    jobs = [conveyor.enqueue(conveyor_test_jobs.succeed, [i]) for i in range(3)]
    conveyor.enqueue(conveyor_test_jobs.succeed, queue="other")
    queue = conveyor.get_queue()
    assert queue.name == SITE_PREFIX + "default"
    assert queue.short_name == "default"
    assert queue.count == len(queue) == 3
    assert not queue.is_empty()
    assert queue.job_ids == [job.id for job in jobs]
    assert [job.args for job in queue.jobs] == [[0], [1], [2]]
    assert [job.id for job in queue.get_jobs(offset=1, length=1)] == [jobs[1].id]
    assert queue.empty() == 3
    assert queue.count == 0
    assert queue.is_empty()
    assert conveyor.get_queue("other").count == 1


def test_get_queue_of_an_unused_name_is_empty() -> None:
    queue = conveyor.get_queue("my_queue")
    assert queue.name == SITE_PREFIX + "my_queue"
    assert conveyor.remove_queue_name_prefix(queue.name) == "my_queue"
    assert queue.count == 0
    assert queue.jobs == []
    assert queue.empty() == 0


def test_get_all_queues_lists_this_sites_queues_by_prefixed_name_sorted() -> None:
    for queue in ("zeta", "alpha", "my:queue", "alpha"):
        conveyor.enqueue(conveyor_test_jobs.succeed, queue=queue)
    queues = conveyor.get_all_queues()
    assert [q.name for q in queues] == [SITE_PREFIX + n for n in ("alpha", "my:queue", "zeta")]
    assert [q.count for q in queues] == [2, 1, 1]
    assert conveyor.job_from_id(queues[1].job_ids[0]).queue == "my:queue"


def test_queue_name_prefix_contains_the_site_id_and_round_trips() -> None:
    prefix = conveyor.add_queue_name_prefix("")
    assert prefix == SITE_PREFIX
    assert "test.conveyor" in prefix
    assert conveyor.add_queue_name_prefix("foobar") == SITE_PREFIX + "foobar"
    assert conveyor.remove_queue_name_prefix(SITE_PREFIX + "foobar") == "foobar"


def test_removing_a_missing_prefix_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r'^Queue name "foobar" is not prefixed\.$') as caught:
        conveyor.remove_queue_name_prefix("foobar")
    assert str(caught.value) == 'Queue name "foobar" is not prefixed.'
    with config.override(OTHER_SITE):
        other = conveyor.add_queue_name_prefix("foobar")
    with pytest.raises(ValueError, match="is not prefixed"):
        conveyor.remove_queue_name_prefix(other)


def test_the_prefix_follows_the_site_id_in_force() -> None:
    with config.override(OTHER_SITE):
        assert conveyor.add_queue_name_prefix("q") == "conveyor:other.site:q"
    assert conveyor.add_queue_name_prefix("q") == SITE_PREFIX + "q"


# -- sites -----------------------------------------------------------------------------------
def test_a_second_site_on_the_same_database_sees_none_of_the_first_sites_jobs() -> None:
    mine = conveyor.enqueue(conveyor_test_jobs.succeed, title="mine")
    conveyor.enqueue(conveyor_test_jobs.succeed, queue="q1")
    with config.override(OTHER_SITE):
        assert conveyor.get_all_queues() == []
        assert conveyor.job_list() == []
        assert conveyor.get_queue().count == 0
        with pytest.raises(NoSuchJobError):
            conveyor.job_from_id(mine.id)
        theirs = conveyor.enqueue(conveyor_test_jobs.succeed)
        assert conveyor.job_list(ids_only=True) == [theirs.id]
        assert conveyor.job_clear() == ["default"]
    assert conveyor.job_list(ids_only=True) == [mine.id, conveyor.get_queue("q1").job_ids[0]]
    with pytest.raises(NoSuchJobError):
        conveyor.job_from_id(theirs.id)


# -- job_from_id ----------------------------------------------------------------------------
def test_job_from_id_finds_jobs_of_any_queue() -> None:
    first = conveyor.enqueue(conveyor_test_jobs.succeed)
    second = conveyor.enqueue(conveyor_test_jobs.succeed, queue="my_queue")
    assert conveyor.job_from_id(first.id) == first
    assert conveyor.job_from_id(second.id).queue == "my_queue"


@pytest.mark.parametrize(
    "job_id",
    ["does-not-exist", "abc:x", "abc", "../x", "", "x" * 10_000, "a b", "ünïcode", "abc\n"],
)
def test_job_from_id_of_an_unknown_or_malformed_id_raises_no_such_job(job_id: str) -> None:
    conveyor.enqueue(conveyor_test_jobs.succeed, job_id="abc-existing")
    with pytest.raises(NoSuchJobError) as caught:
        conveyor.job_from_id(job_id)
    assert isinstance(caught.value, KeyError)
    assert str(caught.value) == f'There is no job with ID "{job_id}".'
    assert caught.value.job_id == job_id


def test_job_from_id_does_not_cut_the_id_at_a_colon() -> None:
    conveyor.enqueue(conveyor_test_jobs.succeed, job_id="abc")
    with pytest.raises(KeyError):
        conveyor.job_from_id("abc:x")
    assert conveyor.job_from_id("abc").id == "abc"


def test_job_from_id_of_a_non_string_raises_no_such_job() -> None:
    with pytest.raises(NoSuchJobError):
        conveyor.job_from_id(123)  # type: ignore[arg-type]


# -- dictize_job ----------------------------------------------------------------------------
def test_dictize_job_has_the_reference_keys_first_and_is_json() -> None:
    job = conveyor.enqueue(conveyor_test_jobs.add, [1, 2], title="Title", queue="my_queue")
    data = conveyor.dictize_job(job)
    assert list(data)[:4] == ["id", "title", "created", "queue"]
    assert data["id"] == job.id
    assert data["title"] == "Title"
    assert data["queue"] == "my_queue"
    created = dt.datetime.strptime(data["created"], "%Y-%m-%dT%H:%M:%S")
    assert created == job.created_at.replace(tzinfo=None, microsecond=0)
    assert data["state"] == "queued"
    assert data["func"] == "conveyor_test_jobs:add"
    assert data["args"] == [1, 2]
    assert data["timeout"] == 180
    assert json.loads(json.dumps(data)) == data


def test_dictize_job_of_an_untitled_job_has_title_none() -> None:
    data = conveyor.dictize_job(conveyor.enqueue(conveyor_test_jobs.succeed))
    assert data["title"] is None
    assert data["queue"] == "default"


def test_dictize_job_of_a_pickled_job_under_json_is_still_json() -> None:
    with config.override({"conveyor.serializer": "pickle"}):
        job = conveyor.enqueue(conveyor_test_jobs.succeed, [{1, 2}])
    data = conveyor.dictize_job(conveyor.job_from_id(job.id))
    assert data["args"].startswith("<not loadable here")
    assert json.loads(json.dumps(data)) == data


# -- test_job -------------------------------------------------------------------------------
def test_test_job_prints_its_args_tuple(capsys: pytest.CaptureFixture[str]) -> None:
    conveyor.test_job("A test job")
    conveyor.test_job(1, "two")
    assert capsys.readouterr().out == "('A test job',)\n(1, 'two')\n"


def test_the_public_names_are_pinned() -> None:
    # Adding or removing a public name is a decision: change this list with it.
    assert sorted(conveyor.__all__) == [
        "BackendError", "BackendUnavailable", "Config", "ConfigError", "ConveyorError",
        "DEFAULT_JOB_LIST_LIMIT", "DEFAULT_QUEUE_NAME", "DuplicateJobError", "DuplicateTokenError",
        "FunctionNotImportable", "InvalidJobError", "Job", "JobFailedError", "JobState",
        "JobStateError", "JobTimeoutException", "NoStoreError", "NoSuchJobError",
        "NoSuchPeriodicJob", "NoSuchTokenError", "NoSuchWorkerError", "PeriodicJob",
        "PeriodicJobError", "Queue",
        "Retry", "SerializationError", "StoreVersionError", "ValidationError", "WaitTimeoutError",
        "Worker", "__version__", "add_queue_name_prefix", "configure", "dictize_job", "enqueue",
        "enqueue_at", "enqueue_in", "enqueue_job", "enqueue_many", "get_all_queues",
        "get_current_job", "get_job_queue", "get_queue", "job_cancel", "job_clear", "job_count",
        "job_from_id", "job_list", "job_requeue", "job_requeue_failed", "job_run_now", "job_show",
        "paused_queues", "periodic", "periodic_disable", "periodic_enable", "periodic_forget",
        "periodic_list", "periodic_run", "queue_list", "queue_pause", "queue_resume",
        "register_periodic",
        "remove_queue_name_prefix", "send_task", "set_progress", "task", "test_job",
        "wait_for_job", "worker_list", "worker_quiet", "worker_stop",
    ]  # fmt: skip
    for name in conveyor.__all__:
        assert hasattr(conveyor, name), name


def test_a_none_in_rq_kwargs_does_not_conflict_with_a_keyword() -> None:
    rq_kwargs = {"timeout": None}
    job = conveyor.enqueue(conveyor_test_jobs.succeed, timeout=5, rq_kwargs=rq_kwargs)
    assert job.timeout == 5
    assert rq_kwargs == {"timeout": None}


@pytest.mark.parametrize("name", [" ", "\t", "  "])
def test_a_blank_queue_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidJobError, match="non-blank"):
        conveyor.enqueue(conveyor_test_jobs.succeed, queue=name)
    assert conveyor.get_all_queues() == []
