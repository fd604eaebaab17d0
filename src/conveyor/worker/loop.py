"""The supervisor's loop: claim, hand out, collect, record, repeat.

Speed comes from overlapping the three costs of a job: the backend round
trip, the pipe to the child, and the job itself.

- Completions are recorded in batches, in the same backend call that claims
  the next jobs (``complete_and_claim``).
- A small buffer of jobs is claimed ahead, so a child that reports is handed
  its next job at once, before any backend I/O.
- While jobs are quick, a busy child is also sent its next few jobs, which
  wait in its pipe: the child starts each the moment it reports the one
  before, without waiting for the supervisor to wake (``_pipeline_slot``).
  Enough are sent to cover about ``_PIPE_AHEAD`` of work, so a child keeps
  running while the supervisor waits on the backend.
- Neither hoards: the buffer is sized from recent job durations (about
  ``_BUFFER_SECONDS`` of work; none at all for slow jobs), and a job that waits
  longer than ``_HOLD``, in the buffer or behind a running job in a child's
  pipe, is put back on its queue for other workers.

Buffered and queued jobs hold leases like running ones and are heartbeated
with them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import selectors
import socket
import time
from collections import deque
from multiprocessing.connection import wait as wait_for
from typing import TYPE_CHECKING

from conveyor.backends import Backend, JobRecord, WorkerInfo
from conveyor.backends.control import QUIET, STOP
from conveyor.exceptions import BackendError
from conveyor.worker.child import Fence, Request, receive_outcome
from conveyor.worker.outcomes import Recorder, short
from conveyor.worker.pool import Child, Pool, Running, exited
from conveyor.worker.requests import answer

if TYPE_CHECKING:
    from conveyor.worker.supervisor import Worker

log = logging.getLogger("conveyor.worker")

_IDLE_WAIT = 0.5  # longest blocking claim, so signals are noticed promptly
_POLL = 0.01  # how often free children look for work while others are busy
_HEARTBEAT_MAX = 2.0
_REGISTER_GAP = 0.5  # state changes (idle/busy) reach the registry at most this often
_BACKOFF_MAX = 30.0
_BUFFER_SECONDS = 0.05  # work claimed ahead, per child, judged by recent durations
_HOLD = 0.25  # a buffered job waiting longer than this goes back to its queue
_FLUSH_AFTER = 0.05  # longest a completion waits for a batch
_FLUSH_BATCH = 256
_PIPE_AHEAD = 0.002  # work queued in a busy child's pipe, judged by recent durations
_PIPE_DEPTH = 8  # and never more jobs than this
# Larger jobs are never queued in a busy child's pipe, so a send to a child can
# never block on a full pipe (_PIPE_DEPTH of them fit in a socket's buffer).
_PIPE_TASK_MAX = 16 * 1024
_FENCE_SHARE = 0.25  # a child stops this share of its lease before the lease expires
_FENCE_MAX = 5.0  # ... but never more than this many seconds before


def fence_margin(lease: float) -> float:
    """How long before its lease expires a child stops itself, unrenewed (``M``).

    Recovery waits the same margin after a lease expired: see "Fencing" in
    docs/reliability.md for why no two runs of a job can then overlap.
    """
    return min(lease * _FENCE_SHARE, _FENCE_MAX)


def backend_backoff(worker_name: str, exc: Exception, previous: float) -> float:
    """The wait after a backend error (0.1 s, doubling up to 30 s), logged."""
    delay = min(max(previous * 2, 0.1), _BACKOFF_MAX)
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

    def __init__(self, worker: Worker, store: Backend, pool: Pool) -> None:
        self.worker = worker
        self.store = store
        self.pool = pool
        self.recorder = Recorder(worker.name)
        self.recorder.metrics = worker.metrics
        self.buffer: deque[tuple[JobRecord, float]] = deque()  # claimed ahead, when
        self.avg_duration: float | None = None
        self.target = 0  # _prefetch_target(), kept current as durations come in
        self.depth = 0  # _pipe_depth(), likewise
        self.ran_any = False
        now = time.monotonic()
        self.next_heartbeat = now  # register at once
        self.registered = ""  # the state the registry holds, and since when (monotonic)
        self.registered_at = 0.0
        self.next_maintenance = now  # recover lost jobs at start-up
        self.idle_since = now  # the last claim, or when the worker last ran out of work
        self.working = False  # a job was running or buffered at the last step
        self.next_periodic = now if worker.ticker else math.inf  # periodic jobs' ticks
        self.started_at = time.time()
        self.backoff = 0.0
        self.margin = fence_margin(worker.lease)
        self.paused: frozenset[str] = frozenset()  # of its queues, as read at the heartbeat
        self.quiet = False  # told to claim no more (worker_quiet)
        # poll(2), not epoll: an epoll registration belongs to the open file, and
        # forked children hold copies of earlier children's pipes, so closing a
        # dead child's fd would leave its registration firing (under a number
        # that may be reused). poll keeps no state in the kernel.
        self.selector = selectors.PollSelector()
        self.selector.register(worker.wake_fd, selectors.EVENT_READ, None)
        self.watched: dict[Child, tuple[int, int]] = {}
        self.watched_list: list[Child] = []

    # -- the loop ----------------------------------------------------------------
    def run(self, burst: bool, max_idle_time: float | None) -> None:
        while not self.worker.stopping_now:
            try:
                if self._step(burst, max_idle_time):
                    return
                self.backoff = 0.0
            except BackendError as exc:
                self._wait_out(exc)

    def _step(self, burst: bool, max_idle_time: float | None) -> bool:
        """One turn of the loop; True when the worker should stop."""
        self._enforce_deadlines()
        self._heartbeat_if_due()
        self._maintain_if_due()
        self._periodic_if_due()
        self._release_held()
        self._dispatch()
        claimed = self._refill(burst)
        self._dispatch()
        self._register_if_changed()  # after the claim: idle only if there was nothing to claim
        if not self.pool.busy() and not self.buffer:
            self.recorder.flush(self.store)
            if self.worker.stopping:
                return True
            if claimed:
                return False
            if burst:
                return True
            if self.working:  # it has just run out of work: idle from now
                self.working = False
                self.idle_since = time.monotonic()
            idle = time.monotonic() - self.idle_since
            return max_idle_time is not None and idle >= max_idle_time
        self.working = True
        self._collect()
        return False

    def _wait_out(self, exc: BackendError) -> None:
        self.backoff = backend_backoff(self.worker.name, exc, self.backoff)
        wait_for([self.worker.wake_fd], self.backoff)
        self._drain_wake()

    # -- claiming ----------------------------------------------------------------
    def _pipe_depth(self) -> int:
        """How many jobs may wait in a busy child's pipe (``self.depth``)."""
        if self.avg_duration is None:
            return 0
        return max(1, min(_PIPE_DEPTH, int(_PIPE_AHEAD / max(self.avg_duration, 1e-6))))

    def _prefetch_target(self) -> int:
        """How many jobs to hold ready beyond the free children (``self.target``)."""
        cap = self.worker.prefetch
        if cap == 0 or self.avg_duration is None:
            return 0
        per_child = _BUFFER_SECONDS / max(self.avg_duration, 1e-6)
        return min(cap, int(per_child * self.worker.concurrency))

    def _refill(self, burst: bool) -> bool:
        """Record pending outcomes and claim more jobs, in one backend call when both are due."""
        if self.worker.stopping:
            self._flush_if_due()
            return False
        if self.quiet or not self._claimable():
            self._flush_if_due()
            if not (self.pool.busy() or self.buffer or burst):
                wait_for([self.worker.wake_fd], self._idle_wait())
                self._drain_wake()
            return False
        target = self.target
        starving = self.pool.free_slots() > len(self.buffer)
        if not starving and (target == 0 or len(self.buffer) > target // 2 or self._stalled()):
            self._flush_if_due()
            return False
        limit = self.pool.free_slots() + target - len(self.buffer)
        waiting_is_fine = not (self.pool.busy() or self.buffer or burst)
        batch = self.recorder.take()
        # The leases claimed run from before the call: a child's fence is counted from here.
        claimed_at = time.monotonic()
        try:
            accepted, claimed = self.store.complete_and_claim(
                batch,
                self._claimable(),
                worker=self.worker.key,
                lease=self.worker.lease,
                now=time.time(),
                limit=limit,
                wait=self._idle_wait() if waiting_is_fine else 0.0,
            )
        except BaseException:
            self.recorder.restore(batch)
            raise
        self.recorder.recorded(batch, accepted)
        self.buffer.extend((record, claimed_at) for record in claimed)
        if claimed:
            self.ran_any = True
            self.idle_since = claimed_at
        return bool(claimed)

    def _claimable(self) -> list[str]:
        """The worker's queues in claim order, less the paused ones."""
        if not self.paused:
            return self.worker.queues
        return [queue for queue in self.worker.queues if queue not in self.paused]

    def _stalled(self) -> bool:
        """Whether a running job has outlasted the hold: jobs claimed now would wait."""
        now = time.monotonic()
        return any(c.running and now - c.running.began > _HOLD for c in self.pool.busy())

    def _flush_if_due(self) -> None:
        recorder = self.recorder
        if not recorder.pending:
            return
        old = time.monotonic() - recorder.oldest >= _FLUSH_AFTER
        if old or len(recorder.pending) >= _FLUSH_BATCH or not self.pool.busy():
            recorder.flush(self.store)

    def _idle_wait(self) -> float:
        first = min(self.next_heartbeat, self.next_maintenance, self.next_periodic)
        until_timer = first - time.monotonic()
        return max(0.0, min(_IDLE_WAIT, until_timer))

    def _release_held(self) -> None:
        """Hand back jobs that waited too long behind busy children (no hoarding)."""
        now = time.monotonic()
        stopping = self.worker.stopping
        released = False
        for child in self.pool.children:
            if not child.queued or child.running is None:
                continue
            if stopping or now - child.running.began > _HOLD:
                # Those the child started already report as usual.
                for queued in self.pool.take_back(child):
                    self.recorder.release(
                        queued.record, queued.token, "held behind a long job", announced=True
                    )
                    released = True
        if self.buffer and (stopping or now - self.buffer[0][1] > _HOLD):
            while self.buffer:
                record, _ = self.buffer.popleft()
                assert record.lease_token is not None
                self.recorder.release(record, record.lease_token, "held too long")
            released = True
        if released:
            self.recorder.flush(self.store)

    # -- starting ----------------------------------------------------------------
    def _dispatch(self) -> None:
        """Give buffered jobs to free children, then queue them behind quick ones."""
        while self.buffer and not self.worker.stopping:
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
        """A busy child that may be sent ``record`` to run after its others, if any.

        Only while jobs are quick (the same judgement as the claim-ahead
        buffer), behind a job that started less than ``_BUFFER_SECONDS`` ago,
        up to ``self.depth`` jobs waiting, and never so many that a child with
        a job limit would exit first. The child with the fewest waiting wins.
        """
        if self.target == 0 or len(record.payload) > _PIPE_TASK_MAX:
            return None
        now = -1.0
        limit = self.pool.settings.max_jobs
        best: Child | None = None
        for child in self.pool.children:
            running = child.running
            waiting = len(child.queued)
            if running is None or waiting >= self.depth:
                continue
            if best is not None and waiting >= len(best.queued):
                continue
            if now < 0:
                now = time.monotonic()
            if now - running.began > _BUFFER_SECONDS:
                continue
            if limit and child.jobs_done + waiting + 2 > limit:
                continue
            best = child
        return best

    # "starts job" is logged before the child is sent the job, so that the
    # job's own output (its prints, its log lines) can only come after it.
    # A job queued behind a running one is announced when it is sent, as the
    # supervisor only learns later that it started; were it then taken back,
    # "put back on its queue" follows at INFO.
    def _start(self, record: JobRecord, claimed_at: float) -> None:
        assert record.lease_token is not None
        running = Running(record, record.lease_token)
        stop_by = claimed_at + self.worker.lease - self.margin
        if time.monotonic() >= stop_by:  # a claim that waited past its own fence
            self.recorder.release(record, running.token, "claimed too late to start")
            return
        self.recorder.started(record)
        try:
            child = self.pool.idle_child()
            self.pool.start(child, running, stop_by)
            if self.recorder.metrics:
                self.recorder.metrics.started(record)
        except Exception:
            log.exception("Worker %s could not start a child process", self.worker.name)
            self.recorder.release(record, running.token, "not started", announced=True)

    def _queue(self, child: Child, record: JobRecord) -> None:
        assert record.lease_token is not None
        running = Running(record, record.lease_token)
        self.recorder.started(record)
        try:
            self.pool.queue(child, running)
        except OSError:  # the child died; it is noticed in _collect
            self.recorder.release(record, running.token, "not started", announced=True)

    # -- collecting ----------------------------------------------------------------
    def _collect(self) -> None:
        """Wait for a child to report or die, a signal, or the next timer."""
        self._watch_children()
        ready: dict[Child, set[str]] = {}
        for key, _ in self.selector.select(self._collect_timeout()):
            if key.data is None:
                self._drain_wake()
                continue
            child, kind = key.data
            ready.setdefault(child, set()).add(kind)
        for child, kinds in ready.items():
            if child not in self.pool.children:  # removed while handling another
                continue
            if "conn" in kinds and child.running is not None:
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

    def _collect_timeout(self) -> float:
        now = time.monotonic()
        first = min(self.next_heartbeat, self.next_maintenance, self.next_periodic)
        if self.recorder.pending:
            first = min(first, self.recorder.oldest + _FLUSH_AFTER)
        if self.buffer:
            first = min(first, self.buffer[0][1] + _HOLD)
        free = self.pool.size
        for child in self.pool.children:
            running = child.running
            if running is None:
                continue
            free -= 1
            if running.deadline is not None:
                first = min(first, running.deadline)
            if child.queued:
                first = min(first, running.began + _HOLD)
        timeout = first - now
        if free > 0 and not self.worker.stopping:
            timeout = min(timeout, _POLL)
        return max(timeout, 0.0)

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self.worker.wake_fd, 1024)

    def _receive(self, child: Child) -> None:
        try:
            outcome = receive_outcome(child.conn)
        except (EOFError, OSError):  # it died without reporting
            self._child_died(child, may_have_reported=False)
            return
        if isinstance(outcome, Request):  # the running job asks (get_current_job, save_meta)
            answer(child, outcome, self.store)
            return
        running = child.running
        assert running is not None
        assert outcome.seq == running.seq, "outcomes come in the order tasks started"
        child.running = None
        child.jobs_done += 1
        if child.queued:  # the child has started the next one already
            queued = child.queued.popleft()
            queued.start_clock()
            child.running = queued
            if self.recorder.metrics:
                self.recorder.metrics.started(queued.record)
        elif outcome.timed_out:  # whatever the job forked goes with it: a new child next
            self._kill(child)
        else:
            self.pool.retire_if_spent(child)
        self._dispatch()  # the next job first: the child should not wait for our bookkeeping
        duration = outcome.duration
        self.avg_duration = (
            duration if self.avg_duration is None else 0.8 * self.avg_duration + 0.2 * duration
        )
        self.target = self._prefetch_target()
        self.depth = self._pipe_depth()
        if outcome.ok:
            self.recorder.finished_ok(running, outcome)
        else:
            self.recorder.raised(running, outcome)

    def _child_died(self, child: Child, may_have_reported: bool = True) -> None:
        # A dead child's pipe polls readable at EOF too: only try to read it once.
        if (
            may_have_reported
            and child.running is not None
            and not child.conn.closed
            and child.conn.poll()
        ):
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
            self.recorder.timed_out(running, time.monotonic())
        else:
            self.recorder.died(running, how)

    def _kill(self, child: Child) -> None:
        """Kill ``child``; the jobs waiting in its pipe go back to their queues."""
        self.pool.kill(child)
        for queued in self.pool.forget_queued(child):  # the child is dead: it runs nothing more
            self.recorder.release(queued.record, queued.token, "not started", announced=True)

    # -- timers ------------------------------------------------------------------
    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for child in self.pool.busy():
            running = child.running
            if running is None or running.deadline is None or now < running.deadline:
                continue
            self._kill(child)
            self.recorder.timed_out(running, now)

    def _heartbeat_if_due(self) -> None:
        now = time.monotonic()
        if now < self.next_heartbeat:
            return
        self.next_heartbeat = now + min(self.worker.lease / 3, _HEARTBEAT_MAX)
        self._read_control()
        busy = [c for c in self.pool.busy() if c.running is not None]
        self._register(busy)
        waiting = [(c, queued) for c in busy for queued in c.queued]
        leases = [(c.running.record.id, c.running.token) for c in busy if c.running]
        leases += [(queued.record.id, queued.token) for _, queued in waiting]
        leases += [(record.id, record.lease_token or "") for record, _ in self.buffer]
        if not leases:
            return
        sent = time.monotonic()  # the leases renewed run from before the call
        held = self.store.extend(leases, lease=self.worker.lease, now=time.time())
        stop_by = sent + self.worker.lease - self.margin
        for child, still_held in zip(busy, held, strict=False):
            if still_held:
                child.fence.stop_by = stop_by
                continue
            if child.running is None:
                continue
            self.recorder.lost_lease(child.running.record)
            self._kill(child)
        lost = {job_id for (job_id, _), ok in zip(leases, held, strict=False) if not ok}
        # A waiting job canceled or taken over: take back what waits in its
        # child's pipe (the others go back to their queues), unless it started.
        for child in dict.fromkeys(c for c, queued in waiting if queued.record.id in lost):
            for queued in self.pool.take_back(child):
                if queued.record.id not in lost:
                    self.recorder.release(
                        queued.record, queued.token, "not started", announced=True
                    )
        if lost:  # buffered jobs canceled or taken over: never start them
            self.buffer = deque(entry for entry in self.buffer if entry[0].id not in lost)

    def _read_control(self) -> None:
        """Learn which queues are paused, and whether to go quiet or stop (conveyor.manage)."""
        control = self.store.worker_control(self.worker.key, self.worker.queues)
        self.paused = control.paused
        if control.command == STOP and not self.worker.stopping:
            log.info("Worker %s was asked to stop", self.worker.name)
            self.worker.request_stop()
        elif control.command == QUIET and not self.quiet:
            log.info("Worker %s was asked to claim no more jobs", self.worker.name)
            self.quiet = True

    def _state(self) -> str:
        if self.worker.stopping:
            return "stopping"
        if self.quiet:
            return "quiet"
        for child in self.pool.children:
            if child.running is not None:
                return "busy"
        return "idle"

    def _register_if_changed(self) -> None:
        """Tell the registry at once when the worker turns busy, idle or stopping.

        At most once per ``_REGISTER_GAP``: a change within it is told by a
        heartbeat brought forward, so a stream of quick jobs (idle and busy
        in turn) costs no store call per job.
        """
        if self.registered == self._state():
            return
        due = self.registered_at + _REGISTER_GAP
        if time.monotonic() >= due:
            self._register([c for c in self.pool.busy() if c.running is not None])
        elif due < self.next_heartbeat:
            self.next_heartbeat = due

    def _register(self, busy: list[Child]) -> None:
        """Tell the registry this worker is alive, and what it is doing."""
        worker = self.worker
        state = self._state()
        now = time.time()
        info = WorkerInfo(
            key=worker.key,
            queues=tuple(worker.queues),
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=self.started_at,
            heartbeat_at=now,
            concurrency=worker.concurrency,
            jobs=tuple(c.running.record.id for c in busy if c.running is not None),
            finished=self.recorder.finished,
            failed=self.recorder.failed,
            state=state,
            retried=self.recorder.retried,
            name=worker.name,
        )
        self.store.register_worker(info, ttl=worker.lease, now=now)
        self.registered, self.registered_at = state, time.monotonic()

    def _maintain_if_due(self) -> None:
        now = time.monotonic()
        if now < self.next_maintenance:
            return
        self.next_maintenance = now + self.worker.lease
        # Our own outcomes and leases first: after an outage they may have
        # expired, and recover() would take back jobs this worker has run or is
        # running (a needless second run, and its outcome refused).
        self.recorder.flush(self.store)
        self.next_heartbeat = now
        self._heartbeat_if_due()
        # Only leases expired over a margin ago: by then their children have
        # stopped themselves, a margin before expiry (docs/reliability.md, "Fencing").
        for recovery in self.store.recover(now=time.time() - self.margin):
            if self.recorder.metrics:
                self.recorder.metrics.recovered(recovery.queue)
            log.warning(
                "Job %s was lost by its worker (lease expired); %s (attempt %d)",
                recovery.job_id,
                "requeued" if recovery.state.value == "queued" else "failed",
                recovery.attempts,
                extra={"job_id": recovery.job_id, "queue": short(recovery.queue)},
            )
        purged = self.store.purge(now=time.time())
        if purged:
            log.debug("Purged %d expired job records", purged)

    def _periodic_if_due(self) -> None:
        """Take the periodic jobs' due ticks (see conveyor.periodic_jobs.ticker)."""
        ticker = self.worker.ticker
        if ticker is None or time.monotonic() < self.next_periodic or self.worker.stopping:
            return
        self.next_periodic = time.monotonic() + ticker.poll(self.store)

    # -- stopping ------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop children; interrupted and buffered jobs go back to their queues."""
        try:
            self.store.unregister_worker(self.worker.key)
            self.store.forget_worker_command(self.worker.key)
        except BackendError as exc:
            log.warning("Worker %s could not unregister: %s", self.worker.name, exc)
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
            self.recorder.flush(self.store)
        except BackendError as exc:
            log.error(
                "Worker %s could not record %d outcome(s) at shutdown: %s; their leases"
                " will expire and the jobs will be recovered",
                self.worker.name,
                len(self.recorder.pending),
                exc,
            )
