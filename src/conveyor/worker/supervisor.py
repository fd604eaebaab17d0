"""The worker: a supervisor process that claims jobs and runs them in children.

The supervisor is single-threaded. It claims jobs (one per free child), hands
them to children over pipes, extends the leases of running jobs, kills a child
whose job overran its timeout or was canceled, records outcomes, and recovers
jobs whose worker vanished. Jobs never run in the supervisor itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait as wait_for
from types import FrameType
from typing import Any

from conveyor import config as _config
from conveyor.api import DEFAULT_QUEUE_NAME, backend, check_queue_name
from conveyor.backends import Backend, Completion, ErrorInfo, JobRecord, JobState, WorkerInfo
from conveyor.exceptions import BackendError, ConfigError
from conveyor.functions import import_function
from conveyor.retry import Retry
from conveyor.worker.child import ChildSettings, Outcome
from conveyor.worker.pool import Child, Pool, Running

log = logging.getLogger("conveyor.worker")

_IDLE_WAIT = 0.5  # longest blocking claim, so signals are noticed promptly
_POLL = 0.01  # how often free children look for work while others are busy
_HEARTBEAT_MAX = 2.0
_BACKOFF_MAX = 30.0


def _display(record: JobRecord) -> str:
    return f"{record.id} ({record.title})" if record.title else record.id


def _hook(value: Callable[[], Any] | str | None) -> Callable[[], Any] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return import_function(value)
    return value


class Worker:
    """Runs jobs from this site's queues in child processes.

    ``queues`` is one name or a list, leftmost first (default: ``default``).
    ``concurrency`` children run jobs at once; with ``isolation="job"`` each
    job gets a fresh child, as RQ does, otherwise children are reused and
    recycled after ``conveyor.worker.max_jobs_per_child`` jobs.
    ``init`` runs in every child when it starts and ``before_fork`` in the
    supervisor before each fork (import paths or callables; by default the
    ``conveyor.worker.init`` / ``conveyor.worker.before_fork`` keys): use them
    to dispose of and reopen database engines, which must never be shared
    across a fork.
    """

    def __init__(
        self,
        queues: Sequence[str] | str | None = None,
        *,
        concurrency: int | None = None,
        isolation: str = "child",
        init: Callable[[], Any] | str | None = None,
        before_fork: Callable[[], Any] | str | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(queues, str):
            queues = [queues]
        self.queue_names = [check_queue_name(q) for q in (queues or [DEFAULT_QUEUE_NAME])]
        self.config = _config.current()
        self.queues = [self.config.queue_prefix + q for q in self.queue_names]
        self.concurrency = (
            concurrency if concurrency is not None else self.config.worker_concurrency
        )
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, not {self.concurrency}")
        if isolation not in {"child", "job"}:
            raise ConfigError(f"isolation must be 'child' or 'job', not {isolation!r}")
        self.isolation = isolation
        self.name = name or uuid.uuid4().hex
        #: The worker's unique run id, as it appears in logs and job records.
        self.key = f"conveyor:worker:{self.name}"
        self.lease = float(self.config.worker_lease)
        self._init = init if init is not None else (self.config.worker_init or None)
        self._before_fork = _hook(
            before_fork if before_fork is not None else self.config.worker_before_fork
        )
        self.jobs_finished = 0
        self.jobs_failed = 0
        self._stop_requests = 0
        self._wake_r, self._wake_w = -1, -1

    # -- the public entry point --------------------------------------------------
    def work(self, burst: bool = False, max_idle_time: float | None = None) -> bool:
        """Run jobs until stopped (SIGINT/SIGTERM), or until idle in burst mode.

        ``burst`` returns once the queues are empty; ``max_idle_time``
        returns after that many seconds without a job. Returns True if any
        job ran.
        """
        settings = ChildSettings(
            serializer=self.config.serializer,
            max_jobs=1 if self.isolation == "job" else self.config.max_jobs_per_child,
            init=self._init,
            supervisor_pid=os.getpid(),
        )
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        wake_handles = [_FdCloser(self._wake_r), _FdCloser(self._wake_w)]
        pool = Pool(self.concurrency, settings, self._before_fork, wake_handles)
        previous = self._install_signal_handlers()
        store = backend(self.config)
        loop = _Loop(self, store, pool)
        log.info(
            "Worker %s (PID %d) has started on queue(s) %s",
            self.key,
            os.getpid(),
            ", ".join(f'"{q}"' for q in self.queue_names),
            extra={"worker": self.key, "queues": self.queue_names},
        )
        try:
            loop.run(burst, max_idle_time)
        finally:
            loop.shutdown()
            self._restore_signal_handlers(previous)
            os.close(self._wake_r)
            os.close(self._wake_w)
            log.info(
                "Worker %s (PID %d) has stopped",
                self.key,
                os.getpid(),
                extra={"worker": self.key},
            )
        return loop.ran_any

    # -- signals ---------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask for a warm shutdown (a second call asks for a cold one)."""
        self._stop_requests += 1
        if self._stop_requests == 1:
            log.info("Worker %s: warm shut down requested", self.key)
        else:
            log.warning("Worker %s: cold shut down requested", self.key)
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")

    @property
    def stopping(self) -> bool:
        return self._stop_requests >= 1

    @property
    def stopping_now(self) -> bool:
        return self._stop_requests >= 2

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        del signum, frame
        self.request_stop()

    def _install_signal_handlers(self) -> dict[int, Any]:
        previous: dict[int, Any] = {}
        try:
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, self._on_signal)
        except ValueError:  # not the main thread: the caller handles stopping
            pass
        return previous

    @staticmethod
    def _restore_signal_handlers(previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class _FdCloser:
    """Lets a child close one of the supervisor's raw file descriptors."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        os.close(self.fd)


class _Loop:
    """One run of the supervisor loop (``Worker.work``)."""

    def __init__(self, worker: Worker, store: Backend, pool: Pool) -> None:
        self.worker = worker
        self.store = store
        self.pool = pool
        self.ran_any = False
        self.pending: list[Completion] = []
        now = time.monotonic()
        self.next_heartbeat = now  # register at once
        self.started_at = time.time()
        self.next_maintenance = now  # recover lost jobs at start-up
        self.idle_since = now
        self.backoff = 0.0

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
        self._flush()
        self._enforce_deadlines()
        self._heartbeat_if_due()
        self._maintain_if_due()
        claimed = self._claim_if_free(burst)
        if not self.pool.busy():
            if self.worker.stopping:
                return True
            if claimed:
                return False
            if burst:
                return True
            idle = time.monotonic() - self.idle_since
            return max_idle_time is not None and idle >= max_idle_time
        self._collect()
        return False

    def _wait_out(self, exc: BackendError) -> None:
        self.backoff = min(max(self.backoff * 2, 0.1), _BACKOFF_MAX)
        log.error(
            "Worker %s: backend error, retrying in %.1fs: %s",
            self.worker.key,
            self.backoff,
            exc,
            extra={"worker": self.worker.key},
        )
        wait_for([self.worker._wake_r], self.backoff)
        self._drain_wake()

    # -- claiming and starting -----------------------------------------------------
    def _claim_if_free(self, burst: bool) -> bool:
        free = self.pool.free_slots()
        if free <= 0 or self.worker.stopping:
            return False
        busy = bool(self.pool.busy())
        claimed = self.store.claim(
            self.worker.queues,
            worker=self.worker.key,
            lease=self.worker.lease,
            now=time.time(),
            limit=free,
            wait=0.0 if busy or burst else self._idle_wait(),
        )
        for record in claimed:
            self._start(record)
        if claimed:
            self.ran_any = True
            self.idle_since = time.monotonic()
        return bool(claimed)

    def _idle_wait(self) -> float:
        until_timer = min(self.next_heartbeat, self.next_maintenance) - time.monotonic()
        return max(0.0, min(_IDLE_WAIT, until_timer))

    def _start(self, record: JobRecord) -> None:
        assert record.lease_token is not None
        began = time.monotonic()
        deadline = None if record.timeout < 0 else began + record.timeout
        running = Running(record, record.lease_token, began, deadline)
        log.info(
            'Worker %s starts job %s from queue "%s"',
            self.worker.key,
            _display(record),
            self._short(record.queue),
            extra=self._extra(record),
        )
        try:
            child = self.pool.idle_child()
            self.pool.start(child, running)
        except Exception as exc:
            log.exception("Worker %s could not start a child process", self.worker.key)
            self.pending.append(
                Completion(
                    record.id,
                    running.token,
                    JobState.QUEUED,
                    error=ErrorInfo(type(exc).__name__, str(exc)),
                )
            )

    # -- collecting outcomes -------------------------------------------------------
    def _collect(self) -> None:
        busy = self.pool.busy()
        handles: list[Any] = [self.worker._wake_r]
        for child in busy:
            handles.extend((child.conn, child.process.sentinel))
        ready = set(wait_for(handles, self._collect_timeout()))
        if self.worker._wake_r in ready:
            self._drain_wake()
        for child in busy:
            if child.conn in ready:
                self._receive(child)
            elif child.process.sentinel in ready:
                self._child_died(child)
        self._flush()

    def _collect_timeout(self) -> float:
        now = time.monotonic()
        timers = [self.next_heartbeat, self.next_maintenance]
        timers.extend(
            c.running.deadline for c in self.pool.busy() if c.running and c.running.deadline
        )
        timeout = min(timers) - now
        if self.pool.free_slots() > 0 and not self.worker.stopping:
            timeout = min(timeout, _POLL)
        return max(timeout, 0.0)

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self.worker._wake_r, 1024)

    def _receive(self, child: Child) -> None:
        try:
            outcome: Outcome = child.conn.recv()
        except (EOFError, OSError):  # it died without reporting
            self._child_died(child, may_have_reported=False)
            return
        running = child.running
        assert running is not None
        assert running.record.id == outcome.job_id
        child.running = None
        child.jobs_done += 1
        if outcome.ok:
            self._finished(running, outcome)
        else:
            self._failed(running, outcome)
        self.pool.retire_if_spent(child)

    def _finished(self, running: Running, outcome: Outcome) -> None:
        record = running.record
        self.worker.jobs_finished += 1
        if outcome.warning:
            log.warning("Job %s: %s", record.id, outcome.warning, extra=self._extra(record))
        self.pending.append(
            Completion(record.id, running.token, JobState.FINISHED, result=outcome.result)
        )
        log.info(
            'Worker %s has finished job %s from queue "%s" in %.3fs',
            self.worker.key,
            _display(record),
            self._short(record.queue),
            outcome.duration,
            extra={**self._extra(record), "duration": outcome.duration},
        )

    def _failed(self, running: Running, outcome: Outcome) -> None:
        record = running.record
        error = outcome.error
        assert error is not None
        log.error(
            "Job %s on worker %s raised an exception: %s\n%s",
            record.id,
            self.worker.key,
            error.message,
            error.traceback.rstrip(),
            extra={**self._extra(record), "error_type": error.type},
        )
        policy = Retry.from_dict(record.retry) if record.retry else None
        if policy is None or record.attempts > policy.max:
            self._fail(running, error, outcome.duration)
            return
        delay = policy.delay(record.attempts)
        self.worker.jobs_failed += 1
        self.pending.append(
            Completion(
                record.id,
                running.token,
                JobState.SCHEDULED,
                error=error,
                run_at=time.time() + delay,
            )
        )
        log.info(
            'Worker %s has failed job %s from queue "%s" in %.3fs; retry %d of %d in %.1fs',
            self.worker.key,
            _display(record),
            self._short(record.queue),
            outcome.duration,
            record.attempts,
            policy.max,
            delay,
            extra={**self._extra(record), "duration": outcome.duration, "retry_in": delay},
        )

    def _fail(self, running: Running, error: ErrorInfo, duration: float) -> None:
        record = running.record
        self.worker.jobs_failed += 1
        self.pending.append(Completion(record.id, running.token, JobState.FAILED, error=error))
        log.info(
            'Worker %s has failed job %s from queue "%s" in %.3fs',
            self.worker.key,
            _display(record),
            self._short(record.queue),
            duration,
            extra={**self._extra(record), "duration": duration},
        )

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
        child.process.join(1.0)
        how = child.describe_exit()
        self.pool.kill(child)
        if running is None:
            return
        record = running.record
        error = ErrorInfo(
            type="ChildProcessDied",
            message=f"The job's process {how}",
            attempt=record.attempts,
            at=time.time(),
        )
        retry = record.attempts < record.max_attempts
        log.error(
            "Job %s on worker %s: its process %s; %s",
            record.id,
            self.worker.key,
            how,
            f"retrying (attempt {record.attempts} of {record.max_attempts})"
            if retry
            else "no attempts left",
            extra=self._extra(record),
        )
        if retry:
            self.pending.append(
                Completion(
                    record.id, running.token, JobState.SCHEDULED, error=error, run_at=time.time()
                )
            )
        else:
            self._fail(running, error, time.monotonic() - running.began)

    # -- timers ------------------------------------------------------------------
    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for child in self.pool.busy():
            running = child.running
            if running is None or running.deadline is None or now < running.deadline:
                continue
            record = running.record
            self.pool.kill(child)
            message = f"Job exceeded maximum timeout value ({record.timeout} seconds)"
            log.error(
                "Job %s on worker %s timed out: %s",
                record.id,
                self.worker.key,
                message,
                extra=self._extra(record),
            )
            error = ErrorInfo("JobTimeoutError", message, attempt=record.attempts, at=time.time())
            self._fail(running, error, now - running.began)

    def _heartbeat_if_due(self) -> None:
        now = time.monotonic()
        if now < self.next_heartbeat:
            return
        self.next_heartbeat = now + min(self.worker.lease / 3, _HEARTBEAT_MAX)
        busy = [c for c in self.pool.busy() if c.running is not None]
        self._register(busy)
        if not busy:
            return
        leases = [(c.running.record.id, c.running.token) for c in busy if c.running]
        held = self.store.extend(leases, lease=self.worker.lease, now=time.time())
        for child, still_held in zip(busy, held, strict=False):
            if still_held or child.running is None:
                continue
            record = child.running.record
            log.warning(
                "Job %s on worker %s was canceled or taken over; stopping its process",
                record.id,
                self.worker.key,
                extra=self._extra(record),
            )
            self.pool.kill(child)

    def _register(self, busy: list[Child]) -> None:
        """Tell the registry this worker is alive, and what it is doing."""
        worker = self.worker
        state = "stopping" if worker.stopping else "busy" if busy else "idle"
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
            finished=worker.jobs_finished,
            failed=worker.jobs_failed,
            state=state,
        )
        self.store.register_worker(info, ttl=worker.lease, now=now)

    def _maintain_if_due(self) -> None:
        now = time.monotonic()
        if now < self.next_maintenance:
            return
        self.next_maintenance = now + self.worker.lease
        for recovery in self.store.recover(now=time.time()):
            log.warning(
                "Job %s was lost by its worker (lease expired); %s (attempt %d)",
                recovery.job_id,
                "requeued" if recovery.state is JobState.QUEUED else "failed",
                recovery.attempts,
                extra={"job_id": recovery.job_id, "queue": self._short(recovery.queue)},
            )
        purged = self.store.purge(now=time.time())
        if purged:
            log.debug("Purged %d expired job records", purged)

    # -- recording -----------------------------------------------------------------
    def _flush(self) -> None:
        """Record outcomes; kept for the next turn if the backend is away."""
        if not self.pending:
            return
        batch = self.pending
        accepted = self.store.complete(batch, now=time.time())
        self.pending = []
        for completion, ok in zip(batch, accepted, strict=False):
            if not ok:
                log.warning(
                    "Outcome of job %s was not recorded: its lease was lost"
                    " (canceled, or recovered by another worker)",
                    completion.job_id,
                    extra={"job_id": completion.job_id, "worker": self.worker.key},
                )

    def shutdown(self) -> None:
        """Stop children; jobs still running (cold shutdown) go back to their queues."""
        try:
            self.store.unregister_worker(self.worker.key)
        except BackendError as exc:
            log.warning("Worker %s could not unregister: %s", self.worker.key, exc)
        interrupted = [c for c in self.pool.busy() if c.running is not None]
        if not interrupted:
            self.pool.stop_idle(wait=5.0)
        self.pool.kill_all()
        for child in interrupted:
            assert child.running is not None
            record = child.running.record
            log.warning(
                "Job %s on worker %s was interrupted and put back on its queue",
                record.id,
                self.worker.key,
                extra=self._extra(record),
            )
            self.pending.append(Completion(record.id, child.running.token, JobState.QUEUED))
        try:
            self._flush()
        except BackendError as exc:
            log.error(
                "Worker %s could not record %d outcome(s) at shutdown: %s; their leases"
                " will expire and the jobs will be recovered",
                self.worker.key,
                len(self.pending),
                exc,
            )

    # -- helpers -------------------------------------------------------------------
    def _short(self, queue: str) -> str:
        return queue.split(":", 2)[-1]

    def _extra(self, record: JobRecord) -> dict[str, Any]:
        return {"job_id": record.id, "queue": self._short(record.queue), "worker": self.worker.key}
