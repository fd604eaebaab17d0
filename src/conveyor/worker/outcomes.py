"""Turning what happened to a job into a completion, and a log line.

Every lifecycle line a worker logs about a job is written here, so the
wording (the reference's) lives in one place. Completions wait in
``pending`` until the loop records them, in batches, with the next claim.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from conveyor.backends import Backend, Completion, ErrorInfo, JobRecord, JobState
from conveyor.backends.base import split_queue_name
from conveyor.retry import Retry
from conveyor.worker.child import Outcome
from conveyor.worker.clock import Clock, SystemClock
from conveyor.worker.pool import HandedJob

if TYPE_CHECKING:
    from conveyor.metrics import WorkerMetrics

log = logging.getLogger("conveyor.worker")

#: What a worker that cannot import a job's function does (docs/reliability.md):
#: the job goes back, its attempt not counted, and is tried again after
#: _CODE_MISSING_FIRST seconds, doubling up to _CODE_MISSING_LONGEST; after
#: _CODE_MISSING_TRIES such failures in a row (about 13 hours) it fails.
_CODE_MISSING = "JobImportError"
_CODE_MISSING_FIRST = 15.0
_CODE_MISSING_LONGEST = 3600.0
_CODE_MISSING_TRIES = 20


def display(record: JobRecord) -> str:
    """How logs name a job: its id, with its title in parentheses if it has one."""
    return f"{record.id} ({record.title})" if record.title else record.id


@functools.lru_cache(maxsize=1024)
def short(queue: str) -> str:
    """A full queue name without its site prefix (cached: a worker logs the same few names)."""
    return split_queue_name(queue)[1]


#: Counts the forks this process descends from: a template made before a fork
#: names the wrong process after it. Read instead of ``os.getpid()``, a system
#: call on every log line.
_forks = 0


def _forked() -> None:
    global _forks  # noqa: PLW0603 -- one counter per process, reset by fork
    _forks += 1


os.register_at_fork(after_in_child=_forked)


def record_time(ns: int) -> tuple[float, float]:
    """A LogRecord's ``created`` and ``msecs`` for ``ns`` (``time.time_ns()``), as logging's.

    ``ns / 1e9`` rounds up to the next second in its last few hundred
    nanoseconds; the milliseconds are then 0, not 999.
    """
    created = ns / 1e9
    msecs = (ns % 1_000_000_000) // 1_000_000 + 0.0
    if msecs == 999.0 and int(created) != ns // 1_000_000_000:
        msecs = 0.0
    return created, msecs


def _line_handler(logger: logging.Logger, level: int) -> Any:
    """The handler that takes a line of ``logger``'s at ``level`` directly, if one may.

    That is so when the line would reach exactly one handler, one with a
    ``write_line`` that accepts it (``conveyor.cli.logs.TextHandler``), and
    nothing on the way would see or change a record: no filter on the loggers
    it passes, and the standard record factory.
    """
    if logging.getLogRecordFactory() is not logging.LogRecord:
        return None
    found: Any = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if level < handler.level:  # it would ignore the record
                continue
            if found is not None:
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent
    takes_lines = getattr(found, "takes_lines", None)
    return found if takes_lines is not None and takes_lines(level) else None


class _Lines:
    """Makes the recorder's log records, cheaply, and hands them to the logger.

    A busy worker logs two lines per job, and the logging module's general
    path (walking the stack to find the caller, then building a LogRecord from
    nothing) was a third of the supervisor's work per job. The records made
    here are the same LogRecords (from the record factory, so a custom factory
    still applies), passed to ``Logger.handle`` as usual, so levels, filters,
    handlers and formatters all behave as before. They are copied from a
    template made once per process and thread (which fixes the process, thread
    and source file), and given the time, level, message, fields and the
    calling recorder method's name. The line number is that of the template.

    Where a line would only reach the text handler of ``jobs worker``, and
    unchanged, it skips the record and goes to that handler's ``write_line``
    (see :func:`_line_handler`): the same line, for a fraction of the cost.
    """

    def __init__(self) -> None:
        self._owner = (-1, 0)
        self._cls: type[logging.LogRecord] = logging.LogRecord
        self._template: dict[str, Any] = {}
        self._created = 0.0
        self._relative = 0.0
        self._direct: dict[int, Any] = {}  # level: the handler its lines go to directly, or None
        self._looked_at = -1  # the second (of time.time_ns()) _direct was filled in

    def emit(self, level: int, msg: str, *args: Any, extra: dict[str, Any]) -> None:
        if not log.isEnabledFor(level):
            return
        ns = time.time_ns()
        second = ns // 1_000_000_000
        direct = self._direct
        if second != self._looked_at:  # the way each level's lines take, looked up once a second
            self._looked_at = second
            direct.clear()
        if level not in direct:
            direct[level] = _line_handler(log, level)
        handler = direct[level]
        if handler is not None:
            handler.write_line(ns, level, log.name, msg % args)
            return
        owner = (_forks, threading.get_ident())
        if owner != self._owner:
            base = log.makeRecord(log.name, level, __file__, 0, "", (), None)
            self._owner = owner
            self._cls = type(base)
            self._template = dict(base.__dict__)
            self._created, self._relative = base.created, base.relativeCreated
        created, msecs = record_time(ns)
        fields = self._template.copy()
        fields.update(extra)
        fields["msg"] = msg
        fields["args"] = args
        fields["levelno"] = level
        fields["levelname"] = logging.getLevelName(level)
        fields["funcName"] = sys._getframe(1).f_code.co_name
        fields["created"] = created
        fields["msecs"] = msecs
        fields["relativeCreated"] = self._relative + (created - self._created) * 1000
        record = self._cls.__new__(self._cls)
        record.__dict__ = fields
        log.handle(record)


def code_missing_delay(failures: int) -> float | None:
    """The wait before trying again a job whose code was missing ``failures`` times in a row.

    None once the job should fail instead.
    """
    if failures > _CODE_MISSING_TRIES:
        return None
    return min(_CODE_MISSING_FIRST * 2.0 ** (failures - 1), _CODE_MISSING_LONGEST)


def _missing_in_a_row(record: JobRecord) -> int:
    count = 0
    for error in reversed(record.errors):
        if error.type != _CODE_MISSING:
            break
        count += 1
    return count


class Recorder:
    """Outcomes of one worker's jobs, waiting to be recorded.

    The counters count final outcomes: ``finished`` and ``failed`` jobs
    (failed for good), and ``retried`` attempts (failed, to be tried again).
    """

    def __init__(self, worker_name: str, clock: Clock | None = None) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.key = worker_name  # how log lines name the worker
        self.pending: list[Completion] = []
        self.oldest = 0.0  # monotonic time the oldest pending completion was made
        self.finished = 0
        self.failed = 0
        self.retried = 0
        self._emit = _Lines().emit
        #: The worker's Prometheus metrics (jobs worker --metrics-port), or None.
        self.metrics: WorkerMetrics | None = None

    def fields(self, record: JobRecord, **more: Any) -> dict[str, Any]:
        return {
            "job_id": record.id,
            "queue": short(record.queue),
            "worker": self.key,
            "attempt": record.attempts,
            **more,
        }

    def _add(self, completion: Completion) -> None:
        if not self.pending:
            self.oldest = self.clock.monotonic()
        self.pending.append(completion)

    # -- what happened -------------------------------------------------------
    def started(self, record: JobRecord) -> None:
        self._emit(
            logging.INFO,
            'Worker %s starts job %s from queue "%s"',
            self.key,
            display(record),
            short(record.queue),
            extra=self.fields(record),
        )

    def finished_ok(self, running: HandedJob, outcome: Outcome) -> None:
        record = running.record
        self.finished += 1
        if self.metrics:
            self.metrics.ended(record, "finished", outcome.duration)
        if outcome.warning:
            self._emit(
                logging.WARNING,
                "Job %s: %s",
                record.id,
                outcome.warning,
                extra=self.fields(record),
            )
        self._add(
            Completion(
                record.id,
                running.token,
                JobState.FINISHED,
                result=outcome.result,
                started_at=running.started_at,
            )
        )
        self._emit(
            logging.INFO,
            'Worker %s has finished job %s from queue "%s" in %.3fs',
            self.key,
            display(record),
            short(record.queue),
            outcome.duration,
            extra=self.fields(record, duration=outcome.duration),
        )

    def raised(self, running: HandedJob, outcome: Outcome) -> None:
        """The job raised: retry it if its policy allows, else fail it."""
        record = running.record
        assert outcome.error is not None
        error = dataclasses.replace(outcome.error, started_at=running.started_at)
        if outcome.timed_out:
            self.timed_out(running, self.clock.monotonic(), error)
            return
        if error.type == _CODE_MISSING and self._code_missing(running, error):
            return
        self._emit(
            logging.ERROR,
            "Job %s on worker %s raised an exception: %s\n%s",
            record.id,
            self.key,
            error.message,
            error.traceback.rstrip(),
            extra=self.fields(record, error_type=error.type),
        )
        policy = Retry.from_dict(record.retry) if record.retry else None
        if policy is None or record.attempts > policy.max:
            self.fail(running, error, outcome.duration)
            return
        delay = policy.delay(record.attempts)
        self.retried += 1
        if self.metrics:
            self.metrics.ended(record, "retried", outcome.duration)
        self._add(
            Completion(
                record.id,
                running.token,
                JobState.SCHEDULED,
                error=error,
                run_at=self.clock.now() + delay,
                started_at=running.started_at,
            )
        )
        self._emit(
            logging.INFO,
            'Worker %s has failed job %s from queue "%s" in %.3fs; retry %d of %d in %.1fs',
            self.key,
            display(record),
            short(record.queue),
            outcome.duration,
            record.attempts,
            policy.max,
            delay,
            extra=self.fields(record, duration=outcome.duration, retry_in=delay),
        )

    def _code_missing(self, running: HandedJob, error: ErrorInfo) -> bool:
        """The job's function cannot be imported here: try it later, attempt not counted.

        False once it has failed so too often in a row: it then fails as usual.
        """
        record = running.record
        failures = _missing_in_a_row(record) + 1
        delay = code_missing_delay(failures)
        if delay is None:
            return False
        self.retried += 1
        self._add(
            Completion(
                record.id,
                running.token,
                JobState.SCHEDULED,
                error=error,
                run_at=self.clock.now() + delay,
                started_at=running.started_at,
                count_attempt=False,
            )
        )
        self._emit(
            logging.ERROR,
            "Worker %s cannot run job %s: %s. The job waits %.0fs and is tried again,"
            " its attempt not counted (code missing %d time(s) in a row; it fails after %d)",
            self.key,
            display(record),
            error.message,
            delay,
            failures,
            _CODE_MISSING_TRIES,
            extra=self.fields(record, error_type=error.type, retry_in=delay),
        )
        return True

    def fail(self, running: HandedJob, error: ErrorInfo, duration: float) -> None:
        record = running.record
        self.failed += 1
        if self.metrics:
            self.metrics.ended(record, "failed", duration)
        self._add(
            Completion(
                record.id,
                running.token,
                JobState.FAILED,
                error=error,
                started_at=running.started_at,
            )
        )
        self._emit(
            logging.INFO,
            'Worker %s has failed job %s from queue "%s" in %.3fs',
            self.key,
            display(record),
            short(record.queue),
            duration,
            extra=self.fields(record, duration=duration),
        )

    def died(self, running: HandedJob, how: str) -> None:
        """The job's process died under it: retry while attempts remain."""
        record = running.record
        error = ErrorInfo(
            type="ChildProcessDied",
            message=f"The job's process {how}",
            attempt=record.attempts,
            at=self.clock.now(),
            started_at=running.started_at,
        )
        retry = record.attempts < record.max_attempts
        self._emit(
            logging.ERROR,
            "Job %s on worker %s: its process %s; %s",
            record.id,
            self.key,
            how,
            f"retrying (attempt {record.attempts} of {record.max_attempts})"
            if retry
            else "no attempts left",
            extra=self.fields(record),
        )
        if retry:
            if self.metrics:
                self.metrics.ended(record, "retried", self.clock.monotonic() - running.began)
            self._add(
                Completion(
                    record.id,
                    running.token,
                    JobState.SCHEDULED,
                    error=error,
                    run_at=self.clock.now(),
                    started_at=running.started_at,
                )
            )
        else:
            self.fail(running, error, self.clock.monotonic() - running.began)

    def timed_out(self, running: HandedJob, now: float, error: ErrorInfo | None = None) -> None:
        """The job reached its timeout: failed, never retried.

        ``error`` is the child's report when the job ended after its
        JobTimeoutException; without it, the job outlasted the grace period
        and its process was killed.
        """
        record = running.record
        message = f"Job exceeded maximum timeout value ({record.timeout} seconds)"
        if self.metrics:
            self.metrics.ended(record, "timed_out", 0.0)
        self._emit(
            logging.ERROR,
            "Job %s on worker %s timed out: %s%s",
            record.id,
            self.key,
            message,
            "" if error else f"; its process was killed after {running.grace:g}s grace",
            extra=self.fields(record),
        )
        if error is None:
            error = ErrorInfo(
                "JobTimeoutError",
                message,
                attempt=record.attempts,
                at=self.clock.now(),
                started_at=running.started_at,
            )
        self.fail(running, error, now - running.began)

    def lost_lease(self, record: JobRecord) -> None:
        self._emit(
            logging.WARNING,
            "Job %s on worker %s was canceled or taken over; stopping its process",
            record.id,
            self.key,
            extra=self.fields(record),
        )

    def release(self, record: JobRecord, token: str, why: str, announced: bool = False) -> None:
        """Put a job back on its queue, its attempt not counted.

        ``announced``: its "starts job" line was logged, so this one is at INFO.
        """
        level = logging.INFO if announced else logging.DEBUG
        self._emit(
            logging.WARNING if why == "interrupted" else level,
            "Job %s on worker %s was %s and put back on its queue",
            record.id,
            self.key,
            why,
            extra=self.fields(record),
        )
        self._add(Completion(record.id, token, JobState.QUEUED))

    # -- recording -------------------------------------------------------------
    def take(self) -> list[Completion]:
        """The pending completions, for a backend call that records them."""
        batch, self.pending = self.pending, []
        return batch

    def restore(self, batch: list[Completion]) -> None:
        """Keep completions a failed backend call did not record."""
        self.pending = batch + self.pending

    def recorded(self, batch: list[Completion], accepted: list[bool]) -> None:
        for completion, ok in zip(batch, accepted, strict=False):
            if not ok:
                self._emit(
                    logging.WARNING,
                    "Outcome of job %s was not recorded: its lease was lost"
                    " (canceled, or recovered by another worker)",
                    completion.job_id,
                    extra={"job_id": completion.job_id, "worker": self.key},
                )

    def flush(self, backend: Backend) -> None:
        """Record every pending completion now."""
        batch = self.take()
        if not batch:
            return
        try:
            accepted = backend.complete(batch, now=self.clock.now())
        except BaseException:
            self.restore(batch)
            raise
        self.recorded(batch, accepted)
