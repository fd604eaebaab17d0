"""Retry policies: validation, delays, how enqueue() takes them, and a worker honouring them."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

import conveyor
import conveyor_test_jobs as test_jobs
from conveyor import InvalidJobError, JobState, Retry


def fetch(job: conveyor.Job) -> conveyor.Job:
    job.refresh()
    return job


# -- validation ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max": -1}, "Retry max must be between 0 and 9999, not -1"),
        ({"max": 1.5}, "Retry max must be a whole number, not 1.5"),
        ({"max": True}, "Retry max must be a whole number, not True"),
        ({"max": 1, "interval": []}, "Retry interval list must have 1 to 1000 delays, not 0"),
        (
            {"max": 1, "interval": -1},
            "Retry interval must be between 0 and 315360000 seconds, not -1",
        ),
        ({"max": 1, "interval": "10"}, "Retry interval must be a number of seconds, not '10'"),
        (
            {"max": 1, "interval": [1, float("nan")]},
            "Retry interval must be between 0 and 315360000 seconds, not nan",
        ),
        ({"max": 1, "backoff": 0.5}, "Retry backoff must be between 1 and 1000, not 0.5"),
        (
            {"max": 1, "max_interval": -5},
            "Retry max_interval must be between 0 and 315360000 seconds, not -5",
        ),
        ({"max": 1, "jitter": 1.5}, "Retry jitter must be between 0 and 1, not 1.5"),
        ({"max": 10**20}, "Retry max must be between 0 and 9999, not 100000000000000000000"),
        (
            {"max": 1, "interval": 1e20},
            "Retry interval must be between 0 and 315360000 seconds, not 1e+20",
        ),
        (
            {"max": 1, "interval": [1] * 1001},
            "Retry interval list must have 1 to 1000 delays, not 1001",
        ),
        (
            {"max": 1, "backoff": 10**20},
            "Retry backoff must be between 1 and 1000, not 100000000000000000000",
        ),
        (
            {"max": 1, "max_interval": 10**20},
            "Retry max_interval must be between 0 and 315360000 seconds,"
            " not 100000000000000000000",
        ),
    ],
)
def test_an_invalid_policy_is_refused_with_a_message_naming_the_field(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidJobError) as raised:
        Retry(**options)
    assert str(raised.value) == message


# -- delays ----------------------------------------------------------------------------------
def test_a_list_of_intervals_gives_each_retry_its_delay_and_the_last_repeats() -> None:
    policy = Retry(max=5, interval=[1, 5, 30])

    assert [policy.delay(n) for n in range(1, 6)] == [1.0, 5.0, 30.0, 30.0, 30.0]


def test_one_interval_without_backoff_is_the_same_every_time() -> None:
    policy = Retry(max=3, interval=7)

    assert [policy.delay(n) for n in range(1, 4)] == [7.0, 7.0, 7.0]


def test_exponential_backoff_doubles_up_to_max_interval() -> None:
    policy = Retry(max=10, interval=1, backoff=2, max_interval=10)

    assert [policy.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_backoff_far_past_the_cap_stays_at_max_interval() -> None:
    policy = Retry(max=5000, interval=1, backoff=2, max_interval=60)

    assert policy.delay(2000) == 60.0
    assert Retry(max=5000, interval=0, backoff=2).delay(2000) == 0.0


def test_jitter_shortens_each_delay_by_at_most_its_fraction() -> None:
    policy = Retry(max=3, interval=10, jitter=0.5)
    rng = random.Random(1234)

    delays = [policy.delay(1, rng) for _ in range(200)]

    assert all(5.0 <= delay <= 10.0 for delay in delays)
    assert len(set(delays)) > 100  # spread out, not in lockstep
    assert min(delays) < 6.0
    assert max(delays) > 9.0
    again = random.Random(1234)
    assert [policy.delay(1, again) for _ in range(200)] == delays


def test_jitter_applies_to_backoff_and_to_lists_alike() -> None:
    rng = random.Random(7)
    backoff = Retry(max=5, interval=2, backoff=3, max_interval=100, jitter=0.25)
    listed = Retry(max=5, interval=[4, 40], jitter=0.25)

    assert 13.5 <= backoff.delay(3, rng) <= 18.0
    assert 30.0 <= listed.delay(4, rng) <= 40.0


@pytest.mark.parametrize(
    "policy",
    [
        Retry(max=0),
        Retry(max=3, interval=[10, 30, 60]),
        Retry(max=5, interval=1.5, backoff=2, max_interval=60, jitter=0.2),
    ],
    ids=["no-retries", "list", "backoff"],
)
def test_a_policy_survives_its_round_trip_through_plain_data(policy: Retry) -> None:
    data = policy.to_dict()

    assert Retry.from_dict(data) == policy
    assert json.loads(json.dumps(data)) == data  # stored as JSON, read by any worker


# -- enqueue ----------------------------------------------------------------------------------
class RQStyleRetry:
    """Shaped like ``rq.Retry``: ``max`` and a list of ``intervals``."""

    def __init__(self, max: int, interval: int | list[int] = 0) -> None:
        self.max = max
        self.intervals = interval if isinstance(interval, list) else [interval]


def stored_policy(**options: Any) -> Retry | None:
    job = conveyor.enqueue(test_jobs.succeed, **options)
    retry = fetch(job).record.retry
    return None if retry is None else Retry.from_dict(retry)


@pytest.mark.parametrize(
    ("retry", "expected"),
    [
        (2, Retry(max=2)),
        ({"max": 3, "interval": [1, 2]}, Retry(max=3, interval=[1, 2])),
        (Retry(max=4, interval=5, backoff=2), Retry(max=4, interval=5, backoff=2)),
        (RQStyleRetry(max=3, interval=[10, 30]), Retry(max=3, interval=[10, 30])),
        (RQStyleRetry(max=1, interval=15), Retry(max=1, interval=[15])),
    ],
    ids=["int", "dict", "Retry", "rq-list", "rq-int"],
)
def test_enqueue_takes_a_retry_in_every_accepted_shape(retry: Any, expected: Retry) -> None:
    assert stored_policy(retry=retry) == expected
    assert stored_policy(rq_kwargs={"retry": retry}) == expected


@pytest.mark.parametrize(
    ("retry", "message"),
    [
        ("3", "retry must be a Retry, a number of retries or a dict, not str"),
        (True, "retry must be a Retry, a number of retries or a dict, not True"),
        ({"interval": 5}, "A retry dict needs 'max'"),
        ({"max": 1, "delay": 5}, "A retry dict needs 'max'"),
        (-1, "Retry max must be between 0 and 9999, not -1"),
    ],
)
def test_enqueue_refuses_a_bad_retry_and_stores_nothing(retry: Any, message: str) -> None:
    with pytest.raises(InvalidJobError, match=message):
        conveyor.enqueue(test_jobs.succeed, retry=retry)

    assert conveyor.job_count(states=[state.value for state in JobState]) == 0


def test_a_retry_given_twice_is_refused() -> None:
    with pytest.raises(InvalidJobError, match="'retry' was given both as a keyword and in"):
        conveyor.enqueue(test_jobs.succeed, retry=1, rq_kwargs={"retry": 2})


def test_without_a_policy_no_retry_is_stored() -> None:
    job = conveyor.enqueue(test_jobs.succeed)

    assert fetch(job).record.retry is None
    assert job.max_attempts == 3


def test_max_attempts_is_raised_to_cover_the_retries() -> None:
    assert conveyor.enqueue(test_jobs.succeed, retry=5).max_attempts == 6
    assert conveyor.enqueue(test_jobs.succeed, retry=1).max_attempts == 3
    assert conveyor.enqueue(test_jobs.succeed, retry=5, max_attempts=2).max_attempts == 2


def test_the_config_gives_the_default_policy() -> None:
    settings = {"conveyor.jobs.retries": "2", "conveyor.jobs.retry_interval": "10, 30"}
    with conveyor.config.override(settings):
        assert stored_policy() == Retry(max=2, interval=[10, 30])
        assert stored_policy(retry=Retry(max=1)) == Retry(max=1)  # a job's own wins
        assert conveyor.enqueue(test_jobs.succeed).max_attempts == 3

    assert stored_policy() is None
