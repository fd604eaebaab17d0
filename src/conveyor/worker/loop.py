"""The supervisor's loop: claim, hand out, collect, record, repeat.

Speed comes from overlapping the three costs of a job: the backend round
trip, the pipe to the child, and the job itself.

- Completions are recorded in batches, in the same backend call that claims
  the next jobs (``complete_and_claim``). While children are busy, on a store
  whose calls take milliseconds (PostgreSQL), that call runs on a helper
  thread (``inflight.py``) and the loop goes on handing out and collecting;
  it takes the answer at a later step.
- Jobs are claimed ahead into a small buffer, and quick jobs are sent ahead
  to wait in a busy child's pipe; how many, and when one goes back, is
  decided in ``policy.py`` from ``now`` and recent durations.

Buffered and waiting jobs hold leases like running ones and are heartbeated
with them. The loop is given its settings (one frozen :class:`LoopSettings`),
a :class:`~conveyor.worker.stopping.StopFlag` and a
:class:`~conveyor.worker.clock.Clock`; it reads the time only from that clock.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import selectors
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_for
from typing import TYPE_CHECKING

from conveyor.backends import Backend, Completion, JobRecord, WorkerInfo
from conveyor.backends.control import QUIET, STOP
from conveyor.exceptions import BackendError
from conveyor.worker import policy
from conveyor.worker.child import Fence, Request, receive_outcome
from conveyor.worker.clock import Clock, SystemClock
from conveyor.worker.inflight import Answer, Call, Helper
from conveyor.worker.outcomes import Recorder, short
from conveyor.worker.pool import Child, FdCloser, HandedJob, Pool, exited
from conveyor.worker.requests import answer
from conveyor.worker.stopping import StopFlag

if TYPE_CHECKING:
    from conveyor.metrics import WorkerMetrics
    from conveyor.periodic_jobs.ticker import Ticker

log = logging.getLogger("conveyor.worker")

_STORE = "store"  # the selector's mark of the helper thread's wake-up pipe


def _first(before: Callable[[], object], then: Callable[[], object] | None) -> Callable[[], None]:
    """A hook that calls ``before``, then ``then`` (if any)."""

    def hook() -> None:
        before()
        if then is not None:
            then()

    return hook


def _report_waiting(child: Child) -> bool:
    """Whether ``child`` runs a job and something waits in its pipe (a report, or its end)."""
    return (
        child.running is not None
        and not child.conn.closed
        and (child.frames.ready() or child.conn.poll())
    )


def _report_read(child: Child) -> bool:
    """Whether ``child`` runs a job and a whole message of its has been read, not yet taken."""
    return child.running is not None and not child.conn.closed and child.frames.ready()


@dataclass(frozen=True)
class LoopSettings:
    """What one run of a worker's loop needs to know, fixed when it starts."""

    name: str  # how log lines name the worker
    key: str  # its unique id, as job records and the registry hold it
    queues: tuple[str, ...]  # full names (site prefix included), claimed in this order
    concurrency: int
    lease: float  # seconds
    prefetch: int  # most jobs claimed ahead of free children


def backend_backoff(worker_name: str, exc: Exception, previous: float) -> float:
    """The wait after a backend error (0.1 s, doubling up to 30 s), logged."""
    delay = policy.backoff(previous)
    log.error(
        "Worker %s: backend error, retrying in %.1fs: %s",
        worker_name,
        delay,
        exc,
        extra={"worker": worker_name},
    )
    return delay


class Loop:
    """One run of ``Worker.work``."""

    def __init__(
        self,
        settings: LoopSettings,
        stop: StopFlag,
        backend: Backend,
        pool: Pool,
        *,
        clock: Clock | None = None,
        ticker: Ticker | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.stop = stop
        self.backend = backend
        self.pool = pool
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.ticker = ticker
        self.queues = list(settings.queues)
        self.recorder = Recorder(settings.name)
        self.recorder.metrics = metrics
        self.buffer: deque[tuple[JobRecord, float]] = deque()  # claimed ahead, when
        self.avg_duration: float | None = None
        self.target = 0  # policy.prefetch_target(), kept current as durations come in
        self.depth = 0  # policy.pipe_depth(), likewise
        self.ran_any = False
        now = self.clock.monotonic()
        self.next_heartbeat = now  # register at once
        self.registered = ""  # the state the registry holds, and since when (monotonic)
        self.registered_at = 0.0
        self.next_maintenance = now  # recover lost jobs at start-up
        self.idle_since = now  # the last claim, or when the worker last ran out of work
        self.working = False  # a job was running or buffered at the last step
        self.next_periodic = now if ticker else math.inf  # periodic jobs' ticks
        self.started_at = self.clock.now()
        self.backoff = 0.0
        self.margin = policy.fence_margin(settings.lease)
        self.paused: frozenset[str] = frozenset()  # of its queues, as read at the heartbeat
        self.quiet = False  # told to claim no more (worker_quiet)
        # poll(2), not epoll: an epoll registration belongs to the open file, and
        # forked children hold copies of earlier children's pipes, so closing a
        # dead child's fd would leave its registration firing (under a number
        # that may be reused). poll keeps no state in the kernel.
        self.selector = selectors.PollSelector()
        self.selector.register(stop.wake_fd, selectors.EVENT_READ, None)
        self.helper = Helper()
        self.inflight: Call | None = None  # the store call on the helper thread, if any
        self.selector.register(self.helper.wake_fd, selectors.EVENT_READ, _STORE)
        # No child is forked while a store call runs on the helper thread (the
        # child would get a copy of a connection, and its lock, in mid-call), nor
        # while that thread exists at all: ending it waits for its call, whose
        # answer the loop takes later, as usual.
        pool.before_fork = _first(self.helper.stop_thread, pool.before_fork)
        pool.keep(*(FdCloser(fd) for fd in self.helper.fds()))
        self.watched: dict[Child, tuple[int, int]] = {}
        self.watched_list: list[Child] = []

    # -- the loop ----------------------------------------------------------------
    def run(self, burst: bool, max_idle_time: float | None) -> None:
        while not self.stop.stopping_now:
            try:
                if self._step(burst, max_idle_time):
                    return
                self.backoff = 0.0
            except BackendError as exc:
                self._wait_out(exc)

    def _step(self, burst: bool, max_idle_time: float | None) -> bool:
        """One turn of the loop; True when the worker should stop."""
        self._enforce_deadlines()
        if self.clock.monotonic() >= self._next_timer():  # most steps: no timer due
            self._heartbeat_if_due()
            self._maintain_if_due()
            self._periodic_if_due()
        self._release_held()
        self._dispatch()
        claimed = self._refill(burst)
        self._dispatch()
        self._register_if_changed()  # after the claim: idle only if there was nothing to claim
        if not self.pool.busy() and not self.buffer:
            if self.inflight is not None:  # its answer may bring jobs: take it, then look again
                self._settle()
                return False
            self.recorder.flush(self.backend)
            if self.stop.stopping:
                return True
            if claimed:
                return False
            if burst:
                return True
            if self.working:  # it has just run out of work: idle from now
                self.working = False
                self.idle_since = self.clock.monotonic()
            idle = self.clock.monotonic() - self.idle_since
            return max_idle_time is not None and idle >= max_idle_time
        self.working = True
        self._collect()
        return False

    def _wait_out(self, exc: BackendError) -> None:
        self.backoff = backend_backoff(self.settings.name, exc, self.backoff)
        wait_for([self.stop.wake_fd], self.backoff)
        self.stop.drain()

    # -- claiming ----------------------------------------------------------------
    def _refill(self, burst: bool) -> bool:
        """Record pending outcomes and claim more jobs, in one backend call when both are due.

        With children busy the call goes to the helper thread (one at a
        time), and its answer is taken at a later step, once it has come.
        """
        if self.inflight is not None:
            return self.inflight.future.done() and self._settle()
        if self.stop.stopping:
            self._flush_if_due()
            return False
        if self.quiet or not self._claimable():
            self._flush_if_due()
            if not (self.pool.busy() or self.buffer or burst):
                wait_for([self.stop.wake_fd], self._idle_wait())
                self.stop.drain()
            return False
        now = self.clock.monotonic()
        limit = policy.claim_limit(
            self.pool.free_slots(), len(self.buffer), self.target, self._oldest_running(), now
        )
        if limit == 0:
            self._flush_if_due()
            return False
        busy = bool(self.pool.busy())
        waiting_is_fine = not (busy or self.buffer or burst)
        overlap = busy and self.backend.claims_in_background
        batch = self.recorder.take()
        # The leases claimed run from before the call: a child's fence is counted from here.
        claimed_at = self.clock.monotonic()
        call = functools.partial(
            self.backend.complete_and_claim,
            batch,
            self._claimable(),
            worker=self.settings.key,
            lease=self.settings.lease,
            now=self.clock.now(),
            limit=limit,
            wait=self._idle_wait() if waiting_is_fine else 0.0,
        )
        if overlap:  # the children have work meanwhile: the loop need not wait for the store
            self.inflight = Call(batch, claimed_at, self.helper.send(call))
            return False
        try:
            reply = call()
        except BaseException:
            self.recorder.restore(batch)
            raise
        return self._take(batch, claimed_at, reply)

    def _take(self, batch: list[Completion], claimed_at: float, reply: Answer) -> bool:
        """Take the answer of a complete_and_claim: outcomes recorded, jobs claimed."""
        accepted, claimed = reply
        self.recorder.recorded(batch, accepted)
        self.buffer.extend((record, claimed_at) for record in claimed)
        if claimed:
            self.ran_any = True
            self.idle_since = claimed_at
        return bool(claimed)

    def _settle(self) -> bool:
        """Take the answer of the call on the helper thread, waiting for it if need be."""
        call, self.inflight = self.inflight, None
        assert call is not None
        self.helper.drain()
        try:
            reply = call.future.result()
        except BaseException:
            self.recorder.restore(call.batch)  # not recorded: sent again with the next call
            raise
        return self._take(call.batch, call.claimed_at, reply)

    def _claimable(self) -> list[str]:
        """The worker's queues in claim order, less the paused ones."""
        if not self.paused:
            return self.queues
        return [queue for queue in self.queues if queue not in self.paused]

    def _oldest_running(self) -> float | None:
        """When the longest-running job started (monotonic), if any runs."""
        oldest: float | None = None
        for child in self.pool.children:
            running = child.running
            if running is not None and (oldest is None or running.began < oldest):
                oldest = running.began
        return oldest

    def _flush_if_due(self) -> None:
        recorder = self.recorder
        if policy.flush_due(
            self.clock.monotonic(), recorder.oldest, len(recorder.pending), bool(self.pool.busy())
        ):
            recorder.flush(self.backend)

    def _next_timer(self) -> float:
        return min(self.next_heartbeat, self.next_maintenance, self.next_periodic)

    def _idle_wait(self) -> float:
        return policy.idle_wait(self.clock.monotonic(), self._next_timer())

    def _release_held(self) -> None:
        """Hand back jobs that waited too long behind busy children (no hoarding)."""
        now = self.clock.monotonic()
        stopping = self.stop.stopping
        released = False
        for child in self.pool.children:
            if not child.queued or child.running is None:
                continue
            if stopping or policy.held_too_long(now, child.running.began):
                # Those the child started already report as usual.
                for queued in self.pool.take_back(child):
                    self.recorder.release(
                        queued.record, queued.token, "held behind a long job", announced=True
                    )
                    released = True
        if self.buffer and (stopping or policy.held_too_long(now, self.buffer[0][1])):
            while self.buffer:
                record, _ = self.buffer.popleft()
                assert record.lease_token is not None
                self.recorder.release(record, record.lease_token, "held too long")
            released = True
        if released:
            self.recorder.flush(self.backend)

    # -- starting ----------------------------------------------------------------
    def _dispatch(self) -> None:
        """Give buffered jobs to free children, then queue them behind quick ones."""
        while self.buffer and not self.stop.stopping:
            record, claimed_at = self.buffer[0]
            if self.pool.free_slots() > 0:
                self.buffer.popleft()
                self._start(record, claimed_at)
                continue
            child = self._pipeline_slot(record)
            if child is None:
                return
            self.buffer.popleft()
            self._queue(child, record)

    def _pipeline_slot(self, record: JobRecord) -> Child | None:
        """A busy child that may be sent ``record`` to run after its others, if any."""
        if self.target == 0:  # the common case for slow jobs: no need to look at the children
            return None
        children = self.pool.children
        # Most calls, in a stream of quick jobs, find every pipe full: no need to ask then.
        for child in children:
            if child.running is not None and len(child.queued) < self.depth:
                break
        else:
            return None
        slots = [
            None
            if child.running is None
            else policy.Slot(child.running.began, len(child.queued), child.jobs_done)
            for child in children
        ]
        index = policy.pipeline_slot(
            slots,
            now=self.clock.monotonic(),
            depth=self.depth,
            target=self.target,
            size=len(record.payload),
            max_jobs=self.pool.settings.max_jobs,
        )
        return None if index is None else children[index]

    # "starts job" is logged before the child is sent the job, so that the
    # job's own output (its prints, its log lines) can only come after it.
    # A job queued behind a running one is announced when it is sent, as the
    # supervisor only learns later that it started; were it then taken back,
    # "put back on its queue" follows at INFO.
    def _start(self, record: JobRecord, claimed_at: float) -> None:
        assert record.lease_token is not None
        handed = HandedJob(record, record.lease_token)
        stop_by = claimed_at + self.settings.lease - self.margin
        if self.clock.monotonic() >= stop_by:  # a claim that waited past its own fence
            self.recorder.release(record, handed.token, "claimed too late to start")
            return
        self.recorder.started(record)
        try:
            child = self.pool.idle_child()
            self.pool.start(child, handed, stop_by, self.clock)
            if self.recorder.metrics:
                self.recorder.metrics.started(record)
        except Exception:
            log.exception("Worker %s could not start a child process", self.settings.name)
            self.recorder.release(record, handed.token, "not started", announced=True)

    def _queue(self, child: Child, record: JobRecord) -> None:
        assert record.lease_token is not None
        handed = HandedJob(record, record.lease_token)
        self.recorder.started(record)
        try:
            self.pool.queue(child, handed)
        except OSError:  # the child died; it is noticed in _collect
            self.recorder.release(record, handed.token, "not started", announced=True)

    # -- collecting ----------------------------------------------------------------
    def _collect(self) -> None:
        """Wait for a child to report or die, a signal, or the next timer.

        Every message read off a child's pipe is taken before the loop waits
        again: a read takes all the pipe holds, and the bytes read are no
        longer there for the selector to see.
        """
        self._watch_children()
        ready: dict[Child, set[str]] = {}
        for child in self.pool.children:  # read earlier, while taking another message
            if _report_read(child):
                ready[child] = {"conn"}
        for key, _ in self.selector.select(0.0 if ready else self._collect_wait()):
            if key.data is None:
                self.stop.drain()
                continue
            if key.data is _STORE:  # the store call has answered: taken at the next step
                self.helper.drain()
                continue
            child, kind = key.data
            ready.setdefault(child, set()).add(kind)
        for child, kinds in ready.items():
            if child not in self.pool.children:  # removed while handling another
                continue
            if "conn" in kinds and child.running is not None:
                self._receive(child)
                while child in self.pool.children and _report_read(child):
                    self._receive(child)
            else:  # an idle child's pipe only becomes readable at its end
                self._child_died(child)

    def _watch_children(self) -> None:
        """Keep the selector's set of children equal to the pool's.

        Children stay registered for their whole life (one registration per
        child, not one per wait); fds of children gone are dropped before new
        ones are added, as the numbers may be reused.
        """
        if self.pool.children == self.watched_list:  # the same children (compared by identity)
            return
        self.watched_list = list(self.pool.children)
        current = set(self.watched_list)
        for child in [c for c in self.watched if c not in current]:
            for fd in self.watched.pop(child):
                with contextlib.suppress(KeyError, ValueError):
                    self.selector.unregister(fd)
        for child in current - self.watched.keys():
            fds = (child.conn.fileno(), child.exit_fd)
            self.selector.register(fds[0], selectors.EVENT_READ, (child, "conn"))
            self.selector.register(fds[1], selectors.EVENT_READ, (child, "sentinel"))
            self.watched[child] = fds

    def _collect_wait(self) -> float:
        """Until the next timer, deadline, flush or hold to act on."""
        wake_at = [self._next_timer()]
        if self.recorder.pending:
            wake_at.append(self.recorder.oldest + policy.FLUSH_AFTER)
        if self.buffer:
            wake_at.append(self.buffer[0][1] + policy.HOLD)
        free = self.pool.size
        for child in self.pool.children:
            running = child.running
            if running is None:
                continue
            free -= 1
            if running.deadline is not None:
                wake_at.append(running.deadline)
            if child.queued:
                wake_at.append(running.began + policy.HOLD)
        return policy.collect_wait(self.clock.monotonic(), wake_at, free > 0, self.stop.stopping)

    def _receive(self, child: Child) -> None:
        try:
            outcome = receive_outcome(child.frames)
        except (EOFError, OSError):  # it died without reporting
            self._child_died(child, may_have_reported=False)
            return
        if isinstance(outcome, Request):  # the running job asks (get_current_job, save_meta)
            try:
                answer(child, outcome, self.backend)
            except (BrokenPipeError, ConnectionResetError):  # the child died after asking
                self._child_died(child, may_have_reported=False)
            return
        running = child.running
        assert running is not None
        assert outcome.seq == running.seq, "outcomes come in the order jobs started"
        child.running = None
        child.jobs_done += 1
        if child.queued:  # the child has started the next one already
            queued = child.queued.popleft()
            queued.start_clock(self.clock)
            child.running = queued
            if self.recorder.metrics:
                self.recorder.metrics.started(queued.record)
        elif outcome.timed_out:  # whatever the job forked goes with it: a new child next
            self._kill(child)
        else:
            self.pool.retire_if_spent(child)
        self._dispatch()  # the next job first: the child should not wait for our bookkeeping
        self.avg_duration = policy.average_duration(self.avg_duration, outcome.duration)
        self.target = policy.prefetch_target(
            self.avg_duration, self.settings.prefetch, self.settings.concurrency
        )
        self.depth = policy.pipe_depth(self.avg_duration)
        if outcome.ok:
            self.recorder.finished_ok(running, outcome)
        else:
            self.recorder.raised(running, outcome)

    def _child_died(self, child: Child, may_have_reported: bool = True) -> None:
        # A dead child's pipe polls readable at EOF too: reading it to the end is
        # what ends this loop (_receive then comes back here, with False).
        while may_have_reported and _report_waiting(child):
            self._receive(child)  # it reported before it exited
            if child not in self.pool.children:
                return
        running = child.running
        exited(child, 1.0)
        how = child.describe_exit()
        timed_out = child.fence.reason == Fence.TIMEOUT  # its watchdog enforced the timeout
        self._kill(child)
        if running is None:
            return
        if timed_out:
            self.recorder.timed_out(running, self.clock.monotonic())
        else:
            self.recorder.died(running, how)

    def _kill(self, child: Child) -> None:
        """Kill ``child``; the jobs waiting in its pipe go back to their queues."""
        self.pool.kill(child)
        for queued in self.pool.forget_queued(child):  # the child is dead: it runs nothing more
            self.recorder.release(queued.record, queued.token, "not started", announced=True)

    # -- timers ------------------------------------------------------------------
    def _enforce_deadlines(self) -> None:
        now = self.clock.monotonic()
        for child in self.pool.busy():
            running = child.running
            if running is None or running.deadline is None or now < running.deadline:
                continue
            self._kill(child)
            self.recorder.timed_out(running, now)

    def _heartbeat_if_due(self) -> None:
        """Every third of the lease: read commands, register the worker, extend leases."""
        now = self.clock.monotonic()
        if now < self.next_heartbeat:
            return
        self.next_heartbeat = now + policy.heartbeat_interval(self.settings.lease)
        self._read_control()
        self._register_worker()
        lost = self._extend_leases()
        if lost:
            self._drop_lost_jobs(lost)

    def _extend_leases(self) -> set[str]:
        """Extend the leases of every job held (running, waiting in a pipe, buffered).

        The fences of the children whose running job's lease was extended
        move on; returns the ids of the jobs whose lease was lost (canceled,
        or taken over after it expired).
        """
        busy = [c for c in self.pool.children if c.running is not None]
        leases = [(c.running.record.id, c.running.token) for c in busy if c.running]
        leases += [(queued.record.id, queued.token) for c in busy for queued in c.queued]
        leases += [(record.id, record.lease_token or "") for record, _ in self.buffer]
        if not leases:
            return set()
        sent = self.clock.monotonic()  # the leases renewed run from before the call
        held = self.backend.extend(leases, lease=self.settings.lease, now=self.clock.now())
        stop_by = sent + self.settings.lease - self.margin
        for child, still_held in zip(busy, held, strict=False):
            if still_held:
                child.fence.stop_by = stop_by
        return {job_id for (job_id, _), ok in zip(leases, held, strict=False) if not ok}

    def _drop_lost_jobs(self, lost: set[str]) -> None:
        """Stop running the jobs in ``lost``, and never start those still waiting.

        A lost job whose child has already reported its end (the report waits
        in the pipe, unread while the loop was in a store call) is not running
        any more: its outcome is taken first, and goes to the store like any
        other, which refuses it ("not recorded: its lease was lost").
        """
        if any(record.id in lost for record, _ in self.buffer):  # never start them
            self.buffer = deque(entry for entry in self.buffer if entry[0].id not in lost)
        for child in list(self.pool.children):
            while (
                child in self.pool.children
                and child.running is not None
                and child.running.record.id in lost
                and _report_waiting(child)
            ):
                self._receive(child)
        for child in [c for c in self.pool.children if c.running is not None]:
            running = child.running
            if running is not None and running.record.id in lost:
                self.recorder.lost_lease(running.record)
                self._kill(child)
        # A waiting job lost: take back what waits in its child's pipe (the
        # others go back to their queues), unless it started.
        for child in [c for c in self.pool.children if any(q.record.id in lost for q in c.queued)]:
            for queued in self.pool.take_back(child):
                if queued.record.id not in lost:
                    self.recorder.release(
                        queued.record, queued.token, "not started", announced=True
                    )

    def _read_control(self) -> None:
        """Learn which queues are paused, and whether to go quiet or stop (conveyor.manage)."""
        control = self.backend.worker_control(self.settings.key, self.queues)
        self.paused = control.paused
        if control.command == STOP and not self.stop.stopping:
            log.info("Worker %s was asked to stop", self.settings.name)
            self.stop.request()
        elif control.command == QUIET and not self.quiet:
            log.info("Worker %s was asked to claim no more jobs", self.settings.name)
            self.quiet = True

    def _state(self) -> str:
        if self.stop.stopping:
            return "stopping"
        if self.quiet:
            return "quiet"
        for child in self.pool.children:
            if child.running is not None:
                return "busy"
        return "idle"

    def _register_if_changed(self) -> None:
        """Tell the registry at once when the worker turns busy, idle or stopping.

        At most once per ``policy.REGISTER_GAP``: a change within it is told
        by a heartbeat brought forward, so a stream of quick jobs (idle and
        busy in turn) costs no store call per job.
        """
        if self.registered == self._state():
            return
        if policy.register_due(self.clock.monotonic(), self.registered_at):
            self._register_worker()
        else:
            self.next_heartbeat = min(
                self.next_heartbeat, self.registered_at + policy.REGISTER_GAP
            )

    def _register_worker(self) -> None:
        """Tell the registry this worker is alive, and what it is doing."""
        settings = self.settings
        state = self._state()
        now = self.clock.now()
        info = WorkerInfo(
            key=settings.key,
            queues=settings.queues,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=self.started_at,
            heartbeat_at=now,
            concurrency=settings.concurrency,
            jobs=tuple(c.running.record.id for c in self.pool.children if c.running is not None),
            finished=self.recorder.finished,
            failed=self.recorder.failed,
            state=state,
            retried=self.recorder.retried,
            name=settings.name,
        )
        self.backend.register_worker(info, ttl=settings.lease, now=now)
        self.registered, self.registered_at = state, self.clock.monotonic()

    def _maintain_if_due(self) -> None:
        now = self.clock.monotonic()
        if now < self.next_maintenance:
            return
        self.next_maintenance = now + self.settings.lease
        # Our own outcomes and leases first: after an outage they may have
        # expired, and recover() would take back jobs this worker has run or is
        # running (a needless second run, and its outcome refused).
        self.recorder.flush(self.backend)
        self.next_heartbeat = now
        self._heartbeat_if_due()
        # Only leases expired over a margin ago: by then their children have
        # stopped themselves, a margin before expiry (docs/reliability.md, "Fencing").
        for recovery in self.backend.recover(now=self.clock.now() - self.margin):
            if self.recorder.metrics:
                self.recorder.metrics.recovered(recovery.queue)
            log.warning(
                "Job %s was lost by its worker (lease expired); %s (attempt %d)",
                recovery.job_id,
                "requeued" if recovery.state.value == "queued" else "failed",
                recovery.attempts,
                extra={"job_id": recovery.job_id, "queue": short(recovery.queue)},
            )
        purged = self.backend.purge(now=self.clock.now())
        if purged:
            log.debug("Purged %d expired job records", purged)

    def _periodic_if_due(self) -> None:
        """Take the periodic jobs' due ticks (see conveyor.periodic_jobs.ticker)."""
        ticker = self.ticker
        if ticker is None or self.stop.stopping:
            return
        if self.clock.monotonic() < self.next_periodic:
            return
        self.next_periodic = self.clock.monotonic() + ticker.poll(self.backend)

    # -- stopping ------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop children; interrupted and buffered jobs go back to their queues."""
        if self.inflight is not None:  # what it claimed is buffered, so released below
            try:
                self._settle()
            except BackendError as exc:
                log.warning("Worker %s: a store call failed: %s", self.settings.name, exc)
            except Exception:  # whatever it was, the children must still be stopped below
                log.exception("Worker %s: a store call failed", self.settings.name)
        self.helper.close()
        try:
            self.backend.unregister_worker(self.settings.key)
            self.backend.forget_worker_command(self.settings.key)
        except BackendError as exc:
            log.warning("Worker %s could not unregister: %s", self.settings.name, exc)
        interrupted = [c for c in self.pool.busy() if c.running is not None]
        if not interrupted:
            self.pool.stop_idle(wait=5.0)
        for child in list(self.pool.children):
            self._kill(child)
        for child in interrupted:
            assert child.running is not None
            self.recorder.release(child.running.record, child.running.token, "interrupted")
        while self.buffer:
            record, _ = self.buffer.popleft()
            self.recorder.release(record, record.lease_token or "", "not started")
        self.selector.close()
        try:
            self.recorder.flush(self.backend)
        except BackendError as exc:
            log.error(
                "Worker %s could not record %d outcome(s) at shutdown: %s; their leases"
                " will expire and the jobs will be recovered",
                self.settings.name,
                len(self.recorder.pending),
                exc,
            )
