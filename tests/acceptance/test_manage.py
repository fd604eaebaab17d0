"""Management functions: job_list, job_show, job_cancel, job_clear (what the CLI and web call)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import conveyor
import conveyor_test_jobs
from conveyor import config
from conveyor.exceptions import JobStateError, NoSuchJobError, ValidationError
from support import StartWorker, wait_until

OTHER_SITE = {"conveyor.site_id": "other.site"}


def enqueue(queue: str = "default", **options: Any) -> conveyor.Job:
    return conveyor.enqueue(conveyor_test_jobs.succeed, queue=queue, **options)


# -- job_list -------------------------------------------------------------------------------
def test_job_list_without_queues_lists_all_queues_sorted_by_name_fifo_within() -> None:
    b1 = enqueue("b")
    a1 = enqueue("a")
    c1 = enqueue("c")
    b2 = enqueue("b")
    a2 = enqueue("a")
    assert conveyor.job_list(ids_only=True) == [a1.id, a2.id, b1.id, b2.id, c1.id]
    assert [job["queue"] for job in conveyor.job_list()] == ["a", "a", "b", "b", "c"]


def test_job_list_with_queues_lists_them_in_the_given_order() -> None:
    a1 = enqueue("a")
    b1 = enqueue("b")
    c1 = enqueue("c")
    c2 = enqueue("c")
    assert conveyor.job_list(["c", "a"], ids_only=True) == [c1.id, c2.id, a1.id]
    assert conveyor.job_list(("b",), ids_only=True) == [b1.id]
    assert conveyor.job_list(["unknown"]) == []


def test_job_list_returns_the_dictized_jobs() -> None:
    job = enqueue("q", title="Listed")
    [listed] = conveyor.job_list()
    assert listed == conveyor.dictize_job(job)
    assert listed["title"] == "Listed"


def test_limit_caps_the_total_not_each_queue() -> None:
    a = [enqueue("a").id for _ in range(2)]
    b = [enqueue("b").id for _ in range(2)]
    assert conveyor.job_list(limit=3, ids_only=True) == [*a, b[0]]
    assert conveyor.job_list(["b", "a"], limit=3, ids_only=True) == [*b, a[0]]
    assert len(conveyor.job_list(limit=1)) == 1
    assert conveyor.job_list(limit=100, ids_only=True) == [*a, *b]


def test_the_default_limit_comes_from_the_configuration() -> None:
    ids = [enqueue().id for _ in range(5)]
    assert conveyor.job_list(ids_only=True) == ids
    with config.override({"conveyor.jobs.default_list_limit": 2}):
        assert conveyor.job_list(ids_only=True) == ids[:2]
        assert conveyor.job_list(limit=4, ids_only=True) == ids[:4]


def test_the_default_limit_is_200() -> None:
    conveyor.enqueue_many([{"fn": conveyor_test_jobs.succeed} for _ in range(201)])
    assert len(conveyor.job_list(ids_only=True)) == 200
    assert conveyor.job_count() == 201


def test_limit_zero_lists_nothing() -> None:
    enqueue()
    assert conveyor.job_list(limit=0) == []


@pytest.mark.parametrize(
    ("limit", "listed"),
    [("2", 2), (2.0, 2), (" 1 ", 1), ("", 3), (None, 3)],
)
def test_limit_accepts_whole_numbers_in_any_form(limit: Any, listed: int) -> None:
    for _ in range(3):
        enqueue()
    assert len(conveyor.job_list(limit=limit)) == listed


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        (-1, "Must be zero or more"),
        ("-5", "Must be zero or more"),
        ("ten", "Invalid integer"),
        (2.5, "Invalid integer"),
        (True, "Invalid integer"),
        ([1], "Invalid integer"),
        (10**23, "Must be at most 1000000"),
        ("99999999999999999999999", "Must be at most 1000000"),
        (1e300, "Must be at most 1000000"),
    ],
)
def test_a_bad_limit_is_a_validation_error(limit: Any, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        conveyor.job_list(limit=limit)
    assert caught.value.errors == {"limit": [message]}
    assert isinstance(caught.value, ValueError)


def test_states_filter_the_listing() -> None:
    done = conveyor.enqueue(conveyor_test_jobs.succeed, queue="q")
    failed = conveyor.enqueue(conveyor_test_jobs.failing_job, queue="q")
    conveyor.Worker(["q"]).work(burst=True)
    waiting = enqueue("q")
    assert conveyor.job_list(ids_only=True) == [waiting.id]
    assert conveyor.job_list(states=["finished"], ids_only=True) == [done.id]
    assert conveyor.job_list(states=["failed"], ids_only=True) == [failed.id]
    assert conveyor.job_list(states="failed", ids_only=True) == [failed.id]
    assert set(conveyor.job_list(states=["failed", "queued"], ids_only=True)) == {
        failed.id,
        waiting.id,
    }
    [shown] = conveyor.job_list(states=["failed"])
    assert shown["state"] == "failed"


@pytest.mark.parametrize(("states", "message"), [(["bogus"], "Unknown state"), ([], "Not a list")])
def test_a_bad_state_is_a_validation_error(states: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        conveyor.job_list(states=states)


@pytest.mark.parametrize("function", [conveyor.job_list, conveyor.job_clear])
@pytest.mark.parametrize(
    ("queues", "message"),
    [
        ("default", "Not a list"),
        ({"default": 1}, "Not a list"),
        (5, "Not a list"),
        ([1], "Not a string: 1"),
        ([""], "Must not be empty"),
    ],
)
def test_queues_must_be_a_list_of_names(function: Any, queues: Any, message: str) -> None:
    job = enqueue()
    with pytest.raises(ValidationError) as caught:
        function(queues)
    assert caught.value.errors == {"queues": [message]}
    assert conveyor.job_list(ids_only=True) == [job.id]  # nothing changed


def test_job_list_sees_only_this_sites_queues() -> None:
    mine = enqueue("shared")
    with config.override(OTHER_SITE):
        theirs = enqueue("shared")
        assert conveyor.job_list(ids_only=True) == [theirs.id]
    assert conveyor.job_list(ids_only=True) == [mine.id]
    assert conveyor.job_list(["shared"], ids_only=True) == [mine.id]


# -- job_show -------------------------------------------------------------------------------
def test_job_show_gives_the_dictized_job() -> None:
    job = enqueue("my_queue", title="Title")
    shown = conveyor.job_show(job.id)
    assert shown == conveyor.dictize_job(job)
    assert (shown["id"], shown["title"], shown["queue"]) == (job.id, "Title", "my_queue")


def test_job_show_answers_after_the_job_ran() -> None:
    job = conveyor.enqueue(conveyor_test_jobs.add, [2, 2])
    conveyor.Worker().work(burst=True)
    shown = conveyor.job_show(job.id)
    assert shown["state"] == "finished"
    assert shown["result"] == 4


@pytest.mark.parametrize("job_id", ["does-not-exist", "abc:x", "../x", "x" * 500])
def test_job_show_of_an_unknown_id_raises_no_such_job(job_id: str) -> None:
    with pytest.raises(NoSuchJobError, match="There is no job with ID"):
        conveyor.job_show(job_id)


@pytest.mark.parametrize("function", [conveyor.job_show, conveyor.job_cancel])
@pytest.mark.parametrize("job_id", ["", None])
def test_a_missing_id_is_a_validation_error(function: Any, job_id: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        function(job_id)
    assert caught.value.errors == {"id": ["Missing value"]}


def test_job_show_of_another_sites_job_raises_no_such_job() -> None:
    with config.override(OTHER_SITE):
        theirs = enqueue()
    with pytest.raises(NoSuchJobError):
        conveyor.job_show(theirs.id)


# -- job_cancel -----------------------------------------------------------------------------
def test_job_cancel_removes_a_queued_job(caplog: pytest.LogCaptureFixture) -> None:
    first = enqueue("q")
    second = enqueue("q")
    with caplog.at_level(logging.INFO, logger="conveyor"):
        assert conveyor.job_cancel(first.id) is None
    assert conveyor.job_list(ids_only=True) == [second.id]
    with pytest.raises(KeyError):
        conveyor.job_from_id(first.id)
    assert f"Cancelled background job {first.id}" in caplog.messages


def test_job_cancel_of_a_finished_job_raises_and_leaves_it_unchanged() -> None:
    job = conveyor.enqueue(conveyor_test_jobs.add, [1, 1])
    conveyor.Worker().work(burst=True)
    before = conveyor.job_show(job.id)
    with pytest.raises(JobStateError):
        conveyor.job_cancel(job.id)
    assert conveyor.job_show(job.id) == before
    assert before["state"] == "finished"


def test_job_cancel_of_a_failed_job_raises_and_leaves_it_unchanged() -> None:
    job = conveyor.enqueue(conveyor_test_jobs.failing_job)
    conveyor.Worker().work(burst=True)
    with pytest.raises(JobStateError):
        conveyor.job_cancel(job.id)
    assert conveyor.job_show(job.id)["state"] == "failed"


def test_job_cancel_of_an_unknown_id_raises_no_such_job() -> None:
    with pytest.raises(NoSuchJobError):
        conveyor.job_cancel("does-not-exist")


def test_job_cancel_of_another_sites_job_raises_and_leaves_it_alone() -> None:
    with config.override(OTHER_SITE):
        theirs = enqueue()
    with pytest.raises(NoSuchJobError):
        conveyor.job_cancel(theirs.id)
    with config.override(OTHER_SITE):
        assert conveyor.job_list(ids_only=True) == [theirs.id]


def test_a_cancelled_job_is_not_run() -> None:
    job = conveyor.enqueue(conveyor_test_jobs.succeed)
    conveyor.job_cancel(job.id)
    assert conveyor.Worker().work(burst=True) is False


# -- job_clear ------------------------------------------------------------------------------
def test_job_clear_of_given_queues_returns_them_and_clears_only_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kept = enqueue("default")
    enqueue("q1")
    enqueue("q2")
    enqueue("q2")
    with caplog.at_level(logging.INFO, logger="conveyor"):
        assert conveyor.job_clear(["q2", "q1", "never-used"]) == ["q2", "q1", "never-used"]
    assert conveyor.job_list(ids_only=True) == [kept.id]
    assert 'Cleared background job queue "q1"' in caplog.messages
    assert 'Cleared background job queue "q2"' in caplog.messages


def test_job_clear_of_all_queues_clears_every_queue_of_this_site_sorted() -> None:
    enqueue("zeta")
    enqueue("default")
    enqueue("alpha")
    done = conveyor.enqueue(conveyor_test_jobs.succeed, queue="only-ended")
    conveyor.Worker(["only-ended"]).work(burst=True)
    with config.override(OTHER_SITE):
        theirs = enqueue("default")
    assert conveyor.job_clear() == ["alpha", "default", "only-ended", "zeta"]
    assert conveyor.job_list(ids_only=True) == []
    assert conveyor.job_show(done.id)["state"] == "finished"  # records of ended jobs are kept
    with config.override(OTHER_SITE):
        assert conveyor.job_list(ids_only=True) == [theirs.id]


def test_a_cleared_queue_without_other_records_is_no_longer_a_queue() -> None:
    enqueue("emptied")
    assert conveyor.job_clear(["emptied"]) == ["emptied"]
    assert conveyor.get_all_queues() == []
    assert conveyor.job_clear() == []  # quirk 1 fixed: emptied queues are not reported


def test_job_clear_with_no_queues_at_all_returns_nothing() -> None:
    assert conveyor.job_clear() == []
    assert conveyor.job_clear([]) == []


def test_job_clear_leaves_running_jobs_alone(tmp_path: Path, start_worker: StartWorker) -> None:
    running_mark, gate = tmp_path / "running", tmp_path / "gate"
    running = conveyor.enqueue(conveyor_test_jobs.meet, [str(running_mark), str(gate)])
    waiting = enqueue("default")
    worker = start_worker("--burst")
    wait_until(running_mark.exists)
    assert conveyor.job_clear() == ["default"]
    with pytest.raises(NoSuchJobError):
        conveyor.job_from_id(waiting.id)
    assert conveyor.job_show(running.id)["state"] == "started"
    gate.touch()
    assert worker.exit_code(60) == 0, worker.stderr
    assert conveyor.job_show(running.id)["state"] == "finished"


def test_a_huge_offset_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as caught:
        conveyor.job_list(offset=10**23)
    assert caught.value.errors == {"offset": [f"Must be at most {10**12}"]}
