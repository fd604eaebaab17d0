"""Bad enqueue input, on every store alike: one InvalidJobError, and the store unchanged.

Each case runs against SQLite, Redis and PostgreSQL. Before the bounds of
conveyor.limits, 10**20 gave an OverflowError on SQLite, a BackendError on
PostgreSQL and was stored on Redis, where completing the job later failed
inside a script; now every store refuses it before it is touched. The values
at the bounds are accepted by every store and survive a run.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import conveyor
import conveyor_test_jobs
from conveyor import api, config, limits
from conveyor.backends import JobState
from conveyor.exceptions import InvalidJobError
from conveyor.testing import run_jobs

BIG = 10**20
CONVEYOR = str(Path(sys.executable).parent / "conveyor")


@pytest.fixture(params=["sqlite", "redis", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """The test's configuration pointed at one store, holding one job already."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/bad-input.sqlite3"
    else:
        url = request.getfixturevalue(f"{request.param}_url")
    with config.override({"conveyor.backend": url}):
        conveyor.enqueue(conveyor_test_jobs.succeed, title="already there")
        yield request.param


def snapshot() -> list[tuple[Any, ...]]:
    """Every job record of the site, in every state, with the fields enqueue sets."""
    settings = config.current()
    backend = api.backend(settings)
    names = backend.queue_names(settings.queue_prefix)
    page = backend.list_jobs(names, states=list(JobState))
    return sorted(
        (r.id, r.queue, r.state, r.title, r.timeout, r.result_ttl, r.failure_ttl, r.max_attempts)
        for r in page.items
    )


BAD_CALLS: list[tuple[dict[str, Any], str]] = [
    ({"timeout": BIG}, "timeout must be between 1 and 315360000 seconds"),
    ({"rq_kwargs": {"timeout": BIG}}, "timeout must be between 1 and 315360000 seconds"),
    ({"timeout": 1e300}, "timeout must be between 1 and 315360000 seconds"),
    ({"timeout": "10**20"}, "timeout '10\\*\\*20' is not a duration"),
    ({"timeout": "1.5h"}, "timeout '1.5h' is not a duration"),
    ({"timeout": "5w"}, "timeout '5w' is not a duration"),
    ({"timeout": "-5m"}, "is negative"),
    ({"timeout": "99999999999999999d"}, "timeout must be between 1 and 315360000 seconds"),
    ({"result_ttl": BIG}, "result_ttl must be between 0 and 315360000 seconds"),
    ({"rq_kwargs": {"failure_ttl": BIG}}, "failure_ttl must be between 0 and 315360000"),
    ({"result_ttl": 2.5}, "result_ttl must be a whole number"),
    ({"max_attempts": BIG}, "max_attempts must be between 1 and 10000"),
    ({"max_attempts": True}, "max_attempts must be a whole number"),
    ({"retry": BIG}, "Retry max must be between 0 and 9999"),
    ({"retry": {"max": 2, "interval": BIG}}, "Retry interval must be between 0 and 315360000"),
    ({"retry": {"max": 2, "interval": [1, BIG]}}, "Retry interval must be between 0"),
    ({"retry": {"max": 2, "backoff": BIG}}, "Retry backoff must be between 1 and 1000"),
    ({"rq_kwargs": {"at_front": "no"}}, "at_front must be True or False, not 'no'"),
    ({"at_front": 1}, "at_front must be True or False, not 1"),
    ({"title": "nul\x00inside"}, "title must not contain NUL"),
    ({"title": "lone \ud800 surrogate"}, "title has a lone surrogate at position 5"),
    ({"rq_kwargs": {"description": "a\x00b"}}, "description must not contain NUL"),
    ({"rq_kwargs": {"description": "\udfff"}}, "description has a lone surrogate"),
    ({"meta": {"note": "a\x00b"}}, "meta must not contain NUL"),
    ({"meta": {"\x00key": 1}}, "meta must not contain NUL"),
    ({"rq_kwargs": {"meta": {"deep": [{"x": "\ud800"}]}}}, "meta has a lone surrogate"),
    ({"meta": {"ratio": float("nan")}}, "meta holds nan, which standard JSON cannot store"),
    ({"meta": {"deep": [float("-inf")]}}, "meta holds -inf"),
]


@pytest.mark.parametrize(("options", "message"), BAD_CALLS)
def test_bad_options_are_refused_alike_and_change_nothing(
    store: str, options: dict[str, Any], message: str
) -> None:
    before = snapshot()
    with pytest.raises(InvalidJobError, match=message):
        conveyor.enqueue(conveyor_test_jobs.succeed, **options)
    assert snapshot() == before


def test_one_bad_job_in_enqueue_many_stores_none_of_them(store: str) -> None:
    before = snapshot()
    calls = [
        {"fn": conveyor_test_jobs.succeed, "title": "good"},
        {"fn": conveyor_test_jobs.succeed, "result_ttl": BIG},
    ]
    with pytest.raises(InvalidJobError, match="result_ttl"):
        conveyor.enqueue_many(calls)
    assert snapshot() == before


def test_values_at_the_bounds_are_stored_and_run_on_every_store(store: str) -> None:
    job = conveyor.enqueue(
        conveyor_test_jobs.add,
        [1, 2],
        timeout=limits.MAX_SECONDS,
        result_ttl=limits.MAX_SECONDS,
        failure_ttl=limits.MAX_SECONDS,
        max_attempts=limits.MAX_ATTEMPTS,
        retry={"max": limits.MAX_RETRIES, "interval": limits.MAX_SECONDS},
        at_front=True,
        title="bounds \u00e9\u6f22\U0001f600",
    )
    stored = conveyor.job_from_id(job.id)
    assert (stored.timeout, stored.max_attempts) == (limits.MAX_SECONDS, limits.MAX_ATTEMPTS)
    assert stored.title == "bounds \u00e9\u6f22\U0001f600"
    ran = {j.id: j for j in run_jobs()}
    assert ran[job.id].state is JobState.FINISHED
    finished = conveyor.job_from_id(job.id)
    assert finished.state is JobState.FINISHED
    assert finished.result == 3


@pytest.mark.parametrize(
    ("given", "seconds"),
    [("3600", 3600), ("90s", 90), ("30m", 1800), ("1h", 3600), ("2d", 172_800), (" 2H ", 7200)],
)
def test_rq_timeout_strings_are_read_as_rq_reads_them(given: str, seconds: int) -> None:
    job = conveyor.enqueue(conveyor_test_jobs.succeed, rq_kwargs={"timeout": given})
    assert conveyor.job_from_id(job.id).timeout == seconds


def test_a_timeout_string_of_minus_one_means_no_limit() -> None:
    job = conveyor.enqueue(conveyor_test_jobs.succeed, timeout="-1")
    assert conveyor.job_from_id(job.id).timeout == -1


def test_the_checks_are_reusable_for_other_enqueue_spellings() -> None:
    assert limits.check_timeout("30m", 180, option="job_timeout") == 1800
    with pytest.raises(InvalidJobError, match="job_timeout must be between"):
        limits.check_timeout(BIG, 180, option="job_timeout")
    assert limits.check_ttl("ttl", None, 5) == 5
    assert limits.check_flag("at_front", None) is False
    assert limits.check_text("title", "x" * 10) == "x" * 10


@pytest.mark.parametrize(
    "message", ["nul\x00inside", "lone \ud800 surrogate"], ids=["nul", "surrogate"]
)
def test_an_error_text_no_store_could_keep_is_recorded_escaped_on_every_store(
    store: str, message: str, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    job = conveyor.enqueue(conveyor_test_jobs.raise_error, [message])
    env = {**subprocess_env, "CONVEYOR_BACKEND": config.current().backend}
    subprocess.run(
        [CONVEYOR, "jobs", "worker", "--burst"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        check=True,
    )
    failed = conveyor.job_from_id(job.id)
    assert failed.state is JobState.FAILED
    expected = message.replace("\x00", "\\x00").replace("\ud800", "\\ud800")
    assert failed.error is not None
    assert ascii(failed.error.message) == ascii(
        expected
    )  # ascii(): a failure report xdist can send


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (lambda: conveyor.enqueue_in(BIG, conveyor_test_jobs.succeed), "at most 315360000"),
        (lambda: conveyor.enqueue_in(-BIG, conveyor_test_jobs.succeed), "not before 1970"),
        (
            lambda: conveyor.enqueue_in(dt.timedelta.max, conveyor_test_jobs.succeed),
            "at most 315360000",
        ),
        (lambda: conveyor.enqueue_at(dt.datetime.max, conveyor_test_jobs.succeed), "ten years"),
        (lambda: conveyor.enqueue_at(dt.datetime.min, conveyor_test_jobs.succeed), "out of"),
        (lambda: conveyor.get_queue().enqueue_in(BIG, conveyor_test_jobs.succeed), "ten years"),
        (
            lambda: conveyor.get_queue().enqueue(conveyor_test_jobs.succeed, job_timeout=BIG),
            "timeout must be between 1 and 315360000",
        ),
        (
            lambda: conveyor.get_queue().enqueue(conveyor_test_jobs.succeed, at_front="yes"),
            "at_front must be True or False",
        ),
    ],
    ids=[
        "in-huge",
        "in-huge-negative",
        "in-timedelta-max",
        "at-datetime-max",
        "at-datetime-min",
        "queue-enqueue_in",
        "queue-job_timeout",
        "queue-at_front",
    ],
)
def test_scheduling_and_rq_spellings_are_bounded_alike(
    store: str, schedule: Any, message: str
) -> None:
    before = snapshot()
    with pytest.raises(InvalidJobError, match=message):
        schedule()
    assert snapshot() == before


def test_a_job_scheduled_at_the_bound_is_stored_on_every_store(store: str) -> None:
    job = conveyor.enqueue_in(limits.MAX_SECONDS - 60, conveyor_test_jobs.succeed)
    assert conveyor.job_from_id(job.id).state is JobState.SCHEDULED
