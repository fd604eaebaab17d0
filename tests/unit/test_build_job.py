"""enqueue()'s two ways of building a job: a call without options takes a short path
(defaults worked out once per configuration), one with options the full one. Both
must build the same job and refuse the same input."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

import conveyor
import conveyor_test_jobs
from conveyor import api, config
from conveyor.backends import NewJob
from conveyor.exceptions import InvalidJobError


def both_ways(**call: Any) -> tuple[NewJob, NewJob]:
    """The job the short path builds for ``call``, and the full path's, with the same id."""
    now = time.time()
    short = api.build_job(config=config.current(), now=now, **call)
    # An option given as None counts as not given, but takes the full path.
    full = api.build_job(config=config.current(), now=now, timeout=None, **call)
    return short, dataclasses.replace(full, id=short.id)


@pytest.mark.parametrize(
    "call",
    [
        {"fn": conveyor_test_jobs.succeed},
        {"fn": conveyor_test_jobs.add, "args": [1, 2], "title": "sum", "queue": "other"},
        {"fn": "conveyor_test_jobs:echo", "args": ["x"], "kwargs": {"y": (1, 2)}},
    ],
)
def test_a_call_without_options_builds_the_job_the_full_path_builds(call: dict[str, Any]) -> None:
    short, full = both_ways(**call)
    assert short == full


def test_the_short_path_follows_a_new_configuration_at_once() -> None:
    first, _ = both_ways(fn=conveyor_test_jobs.succeed)
    assert (first.timeout, first.max_attempts, first.retry) == (180, 3, None)
    conveyor.configure(
        settings={
            **{"conveyor.backend": config.current().backend, "conveyor.site_id": "other.site"},
            "conveyor.jobs.timeout": 42,
            "conveyor.jobs.retries": 4,
            "conveyor.jobs.result_ttl": 7,
        }
    )
    short, full = both_ways(fn=conveyor_test_jobs.succeed)
    assert short == full
    assert short.timeout == 42
    assert short.result_ttl == 7
    assert short.queue == "conveyor:other.site:default"
    assert short.retry is not None
    assert short.retry["max"] == 4
    assert short.max_attempts == 5


def test_jobs_of_the_short_path_do_not_share_their_retry_policy() -> None:
    conveyor.configure(
        settings={"conveyor.backend": config.current().backend, "conveyor.jobs.retries": 2}
    )
    one, _ = both_ways(fn=conveyor_test_jobs.succeed)
    two, _ = both_ways(fn=conveyor_test_jobs.succeed)
    assert one.retry == two.retry
    assert one.retry is not two.retry
    assert one.id != two.id


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"fn": conveyor_test_jobs.succeed, "title": 5}, "title must be a string"),
        ({"fn": conveyor_test_jobs.succeed, "queue": " "}, "non-blank string"),
        ({"fn": "no_such_module_here:f"}, "no_such_module_here"),
        ({"fn": conveyor_test_jobs.succeed, "args": "abc"}, "args must be a list"),
        ({"fn": conveyor_test_jobs.succeed, "args": [object()]}, "JSON cannot store"),
    ],
)
def test_the_short_path_refuses_what_the_full_path_refuses_and_stores_nothing(
    call: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidJobError, match=message):
        conveyor.enqueue(**call)
    with pytest.raises(InvalidJobError, match=message):
        conveyor.enqueue(**call, timeout=None)
    assert conveyor.job_count() == 0
