"""The supervisor's judgements, as pure functions of the time and of recent durations.

How many jobs to claim ahead, which busy child may be sent a job to wait in
its pipe, when a held job goes back, when outcomes are flushed, how long to
wait: nothing here reads a clock, touches a process or calls a backend, so
each rule is tested with plain numbers (tests/unit/test_worker_policy.py). The
loop (``loop.py``) feeds them ``now`` (monotonic seconds) and applies what
they decide.

- A small buffer of jobs is claimed ahead, so a child that reports is handed
  its next job at once, before any backend I/O: about ``BUFFER_SECONDS`` of
  work per child, judged by recent durations, none at all for slow jobs.
- While jobs are quick, a busy child is also sent its next few jobs, which
  wait in its pipe: enough to cover about ``PIPE_AHEAD`` of work, so a child
  keeps running while the supervisor waits on the backend.
- Neither hoards: a job that waits longer than ``HOLD``, in the buffer or
  behind a running job in a child's pipe, goes back to its queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

IDLE_WAIT = 0.5  # longest blocking claim, so signals are noticed promptly
POLL = 0.01  # how often free children look for work while others are busy
HEARTBEAT_MAX = 2.0
REGISTER_GAP = 0.5  # state changes (idle/busy) reach the registry at most this often
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 30.0
BUFFER_SECONDS = 0.05  # work claimed ahead, per child, judged by recent durations
HOLD = 0.25  # a job held (buffered, or waiting in a pipe) longer than this goes back
FLUSH_AFTER = 0.05  # longest a completion waits for a batch
FLUSH_BATCH = 256
PIPE_AHEAD = 0.002  # work queued in a busy child's pipe, judged by recent durations
PIPE_DEPTH = 8  # and never more jobs than this
# Larger jobs are never queued in a busy child's pipe, so a send to a child can
# never block on a full pipe (PIPE_DEPTH of them fit in a socket's buffer).
PIPE_MESSAGE_MAX = 16 * 1024
FENCE_SHARE = 0.25  # a child stops this share of its lease before the lease expires
FENCE_MAX = 5.0  # ... but never more than this many seconds before
_SMOOTHING = 0.2  # weight of the latest duration in the running average


def fence_margin(lease: float) -> float:
    """How long before its lease expires a child stops itself, unrenewed (``M``).

    Recovery waits the same margin after a lease expired: see "Fencing" in
    docs/reliability.md for why no two runs of a job can then overlap.
    """
    return min(lease * FENCE_SHARE, FENCE_MAX)


def heartbeat_interval(lease: float) -> float:
    """Time between two heartbeats: a third of the lease, at most ``HEARTBEAT_MAX``."""
    return min(lease / 3, HEARTBEAT_MAX)


def backoff(previous: float) -> float:
    """The wait after a backend error: 0.1 s, doubling up to 30 s."""
    return min(max(previous * 2, BACKOFF_FIRST), BACKOFF_MAX)


def average_duration(previous: float | None, duration: float) -> float:
    """The running average of job durations, with the latest one added."""
    if previous is None:
        return duration
    return (1 - _SMOOTHING) * previous + _SMOOTHING * duration


def pipe_depth(average: float | None) -> int:
    """How many jobs may wait in a busy child's pipe: 0 before any job ended, else 1 to 8."""
    if average is None:
        return 0
    return max(1, min(PIPE_DEPTH, int(PIPE_AHEAD / max(average, 1e-6))))


def prefetch_target(average: float | None, cap: int, concurrency: int) -> int:
    """How many jobs to hold ready beyond the free children (none until a job has ended)."""
    if cap == 0 or average is None:
        return 0
    per_child = BUFFER_SECONDS / max(average, 1e-6)
    return min(cap, int(per_child * concurrency))


def held_too_long(now: float, since: float) -> bool:
    """Whether a job held since ``since`` (buffered, or waiting behind a running one) goes back."""
    return now - since > HOLD


def claim_limit(
    free_slots: int, buffered: int, target: int, oldest_running: float | None, now: float
) -> int:
    """How many jobs to claim now (0: none).

    Always enough for the free children; beyond them, a top-up of the
    buffer to ``target`` once it is half empty, unless a running job (the
    oldest started at ``oldest_running``) has outlasted the hold: jobs
    claimed then would only wait.
    """
    starving = free_slots > buffered
    if not starving:
        if target == 0 or buffered > target // 2:
            return 0
        if oldest_running is not None and held_too_long(now, oldest_running):
            return 0
    return free_slots + target - buffered


class Slot(NamedTuple):
    """A busy child, as the choice of where a job may wait sees it."""

    began: float  # when its running job started (monotonic)
    waiting: int  # jobs waiting in its pipe
    jobs_done: int


def pipeline_slot(
    slots: Sequence[Slot | None],
    *,
    now: float,
    depth: int,
    target: int,
    size: int,
    max_jobs: int,
) -> int | None:
    """The index of the busy child a job of ``size`` bytes may be sent to wait, if any.

    Only while jobs are quick (``target`` above 0, the same judgement as the
    claim-ahead buffer), behind a job that started less than
    ``BUFFER_SECONDS`` ago, up to ``depth`` jobs waiting, and never so many
    that a child with a job limit (``max_jobs``) would exit first. The child
    with the fewest waiting wins. ``None`` in ``slots`` is an idle child.
    """
    if target == 0 or size > PIPE_MESSAGE_MAX:
        return None
    best: int | None = None
    fewest = depth
    for index, slot in enumerate(slots):
        if slot is None or slot.waiting >= fewest:
            continue
        if now - slot.began > BUFFER_SECONDS:
            continue
        if max_jobs and slot.jobs_done + slot.waiting + 2 > max_jobs:
            continue
        best, fewest = index, slot.waiting
    return best


def flush_due(now: float, oldest: float, pending: int, busy: bool) -> bool:
    """Whether pending outcomes are recorded now rather than with the next claim."""
    if not pending:
        return False
    return now - oldest >= FLUSH_AFTER or pending >= FLUSH_BATCH or not busy


def idle_wait(now: float, next_timer: float) -> float:
    """How long an idle worker's blocking claim may wait: until its next timer, at most 0.5 s."""
    return max(0.0, min(IDLE_WAIT, next_timer - now))


def collect_wait(now: float, wake_at: Iterable[float], free_child: bool, stopping: bool) -> float:
    """How long to wait for children: until the first of ``wake_at``.

    At most ``POLL`` while a child is free (and the worker not stopping), so
    it looks for work again soon.
    """
    timeout = min(wake_at, default=now + IDLE_WAIT) - now
    if free_child and not stopping:
        timeout = min(timeout, POLL)
    return max(timeout, 0.0)


def register_due(now: float, registered_at: float) -> bool:
    """Whether a change of the worker's state may reach the registry now (else: later)."""
    return now >= registered_at + REGISTER_GAP
