"""The supervisor's judgements with plain numbers, and its loop stepped by a fake clock.

No process is started here: ``conveyor.worker.policy`` is pure, and the loop
tests run with no job, so the pool never forks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import conveyor
from conveyor import config
from conveyor.api import backend
from conveyor.worker import policy
from conveyor.worker.child import ChildSettings
from conveyor.worker.loop import Loop
from conveyor.worker.policy import Slot
from conveyor.worker.pool import Pool


def test_the_fence_margin_is_a_quarter_of_the_lease_at_most_five_seconds() -> None:
    assert policy.fence_margin(4.0) == 1.0
    assert policy.fence_margin(30.0) == 5.0


def test_heartbeats_come_every_third_of_the_lease_at_most_every_two_seconds() -> None:
    assert policy.heartbeat_interval(3.0) == 1.0
    assert policy.heartbeat_interval(30.0) == 2.0


def test_the_backoff_starts_at_a_tenth_and_doubles_up_to_thirty_seconds() -> None:
    waits = [0.0]
    for _ in range(12):
        waits.append(policy.backoff(waits[-1]))
    assert waits[1:5] == [0.1, 0.2, 0.4, 0.8]
    assert waits[-1] == 30.0


def test_the_average_duration_starts_at_the_first_and_leans_to_the_past() -> None:
    first = policy.average_duration(None, 1.0)
    assert first == 1.0
    assert policy.average_duration(first, 0.0) == pytest.approx(0.8)


def test_nothing_waits_in_a_pipe_before_a_job_has_ended() -> None:
    assert policy.pipe_depth(None) == 0


def test_the_pipe_holds_about_two_milliseconds_of_work_from_one_to_eight_jobs() -> None:
    assert policy.pipe_depth(0.001) == 2
    assert policy.pipe_depth(1e-5) == policy.PIPE_DEPTH == 8
    assert policy.pipe_depth(5.0) == 1


def test_the_prefetch_target_is_fifty_milliseconds_of_work_per_child_within_the_cap() -> None:
    assert policy.prefetch_target(None, 32, 1) == 0  # nothing known yet
    assert policy.prefetch_target(0.01, 32, 2) == 10
    assert policy.prefetch_target(0.0001, 32, 1) == 32  # the cap
    assert policy.prefetch_target(0.01, 0, 2) == 0  # prefetch turned off
    assert policy.prefetch_target(1.0, 32, 4) == 0  # slow jobs: none


def test_free_children_are_always_claimed_for() -> None:
    now = 100.0
    assert policy.claim_limit(2, 0, 0, None, now) == 2
    assert policy.claim_limit(2, 1, 0, None, now) == 2 + 0 - 1
    # Even behind a job that runs long.
    assert policy.claim_limit(1, 0, 10, now - 60, now) == 11


def test_the_buffer_is_topped_up_once_half_empty() -> None:
    now = 100.0
    assert policy.claim_limit(0, 6, 10, now, now) == 0  # more than half full
    assert policy.claim_limit(0, 5, 10, now, now) == 5
    assert policy.claim_limit(0, 0, 0, now, now) == 0  # no target: nothing ahead


def test_nothing_is_claimed_ahead_behind_a_job_that_outlasted_the_hold() -> None:
    now = 100.0
    assert policy.claim_limit(0, 0, 10, now - policy.HOLD - 0.01, now) == 0
    assert policy.claim_limit(0, 0, 10, now - policy.HOLD + 0.01, now) == 10


def test_a_job_is_held_at_most_a_quarter_second() -> None:
    assert not policy.held_too_long(10.25, 10.0)
    assert policy.held_too_long(10.26, 10.0)


def _slot_for(slots: list[Slot | None], **overrides: int) -> int | None:
    settings = {"depth": 2, "target": 32, "size": 100, "max_jobs": 0, **overrides}
    return policy.pipeline_slot(slots, now=10.0, **settings)


def test_a_quick_job_waits_behind_the_child_with_the_fewest_waiting() -> None:
    slots: list[Slot | None] = [Slot(9.99, 1, 0), None, Slot(9.99, 0, 0)]
    assert _slot_for(slots) == 2


def test_no_job_waits_in_a_full_pipe_behind_an_old_job_or_while_jobs_are_slow() -> None:
    assert _slot_for([Slot(9.99, 2, 0)]) is None  # depth reached
    assert _slot_for([Slot(10.0 - policy.BUFFER_SECONDS - 0.01, 0, 0)]) is None
    assert _slot_for([Slot(9.99, 0, 0)], target=0) is None
    assert _slot_for([None, None]) is None  # idle children are started, not queued


def test_a_large_job_never_waits_in_a_pipe() -> None:
    assert _slot_for([Slot(9.99, 0, 0)], size=policy.PIPE_MESSAGE_MAX) == 0
    assert _slot_for([Slot(9.99, 0, 0)], size=policy.PIPE_MESSAGE_MAX + 1) is None


def test_no_job_waits_behind_a_child_that_will_reach_its_job_limit_first() -> None:
    assert _slot_for([Slot(9.99, 0, 8)], max_jobs=10) == 0  # 8 done, 1 running, 1 more
    assert _slot_for([Slot(9.99, 1, 8)], max_jobs=10) is None


def test_outcomes_are_flushed_when_old_many_or_nothing_runs() -> None:
    assert not policy.flush_due(10.0, 9.99, 0, False)  # nothing pending
    assert not policy.flush_due(10.0, 9.99, 3, True)
    assert policy.flush_due(10.0, 10.0 - policy.FLUSH_AFTER, 3, True)
    assert policy.flush_due(10.0, 9.99, policy.FLUSH_BATCH, True)
    assert policy.flush_due(10.0, 9.99, 1, False)


def test_an_idle_claim_waits_for_the_next_timer_at_most_half_a_second() -> None:
    assert policy.idle_wait(10.0, 10.2) == pytest.approx(0.2)
    assert policy.idle_wait(10.0, 20.0) == policy.IDLE_WAIT
    assert policy.idle_wait(10.0, 9.0) == 0.0


def test_the_supervisor_waits_for_the_first_timer_polling_while_a_child_is_free() -> None:
    assert policy.collect_wait(10.0, [10.3, 10.1], False, False) == pytest.approx(0.1)
    assert policy.collect_wait(10.0, [10.3], True, False) == policy.POLL
    assert policy.collect_wait(10.0, [10.3], True, True) == pytest.approx(0.3)  # stopping
    assert policy.collect_wait(10.0, [9.0], False, False) == 0.0


def test_state_changes_reach_the_registry_at_most_twice_a_second() -> None:
    assert not policy.register_due(10.4, 10.0)
    assert policy.register_due(10.5, 10.0)


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.wall = 1_800_000_000.0
        self.mono = 1000.0

    def now(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


@pytest.fixture
def stepped() -> Iterator[tuple[Loop, FakeClock]]:
    """A worker's loop on this test's SQLite store, with a fake clock and no child yet."""
    worker = conveyor.Worker(concurrency=1, periodic=False)
    worker.stop_flag.open()
    clock = FakeClock()
    settings = ChildSettings(serializer="json", max_jobs=0, supervisor_pid=os.getpid())
    store = backend(config.current())
    loop = Loop(
        worker.loop_settings(), worker.stop_flag, store, Pool(1, settings, None, []), clock=clock
    )
    yield loop, clock
    loop.shutdown()
    worker.stop_flag.close()


def _heartbeat_at(loop: Loop, clock: FakeClock) -> float | None:
    for info in loop.backend.workers(config.current().queue_prefix, now=clock.now()):
        if info.key == loop.settings.key:
            return info.heartbeat_at
    return None


def test_the_heartbeat_comes_when_the_clock_says_not_before(
    stepped: tuple[Loop, FakeClock],
) -> None:
    loop, clock = stepped
    loop._heartbeat_if_due()  # the first one is due at once
    first = _heartbeat_at(loop, clock)
    assert first == clock.now()
    interval = policy.heartbeat_interval(loop.settings.lease)
    clock.advance(interval - 0.01)
    loop._heartbeat_if_due()
    assert _heartbeat_at(loop, clock) == first
    clock.advance(0.02)
    loop._heartbeat_if_due()
    assert _heartbeat_at(loop, clock) == clock.now()


def test_an_idle_worker_stops_after_its_max_idle_time_on_its_clock(
    stepped: tuple[Loop, FakeClock],
) -> None:
    loop, clock = stepped
    assert loop._step(burst=False, max_idle_time=5.0) is False  # nothing to do, not idle long
    clock.advance(4.9)
    assert loop._step(burst=False, max_idle_time=5.0) is False
    clock.advance(0.2)
    assert loop._step(burst=False, max_idle_time=5.0) is True
