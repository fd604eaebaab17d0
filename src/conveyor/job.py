"""The Job object enqueue() returns, and the reference's dictized form of it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from conveyor import limits, serializer
from conveyor.backends import Backend, JobRecord, JobState, shared_backend
from conveyor.backends.base import ENDED_STATES, ErrorInfo, split_queue_name
from conveyor.config import Config
from conveyor.exceptions import (
    JobFailedError,
    JobStateError,
    NoSuchJobError,
    SerializationError,
    ValidationError,
    WaitTimeoutError,
)
from conveyor.history import attempt_history, current_error

log = logging.getLogger("conveyor.jobs")

#: The reference's timestamp format: UTC, whole seconds, no zone suffix.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
#: The key of ``job.meta`` that ``set_progress()`` writes: ``{"fraction": 0.4, "message": ...}``.
PROGRESS_KEY = "progress"


def to_datetime(timestamp: float | None) -> dt.datetime | None:
    """An aware UTC datetime for an epoch timestamp."""
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc)


def format_time(timestamp: float | None) -> str | None:
    """A timestamp in the reference's format (``2026-01-01T12:00:00``)."""
    moment = to_datetime(timestamp)
    return None if moment is None else moment.strftime(TIME_FORMAT)


class Job:
    """A job stored in the backend, as seen when it was last loaded.

    Attributes mirror RQ's ``Job`` where the reference relies on them
    (``id``, ``origin``, ``args``, ``kwargs``, ``meta``, ``timeout``,
    ``created_at``, ``get_status()``) and add conveyor's record (``state``,
    ``attempts``, ``error`` ...). ``refresh()`` reloads it.
    """

    def __init__(
        self,
        record: JobRecord,
        config: Config,
        *,
        meta_saver: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._record = record
        self._config = config
        self._call: tuple[list[Any], dict[str, Any]] | None = None
        self._meta: dict[str, Any] | None = None
        # How save_meta() stores meta for the running job (through its worker's
        # supervisor, fenced by the lease); None: a direct, unfenced store call.
        self._meta_saver = meta_saver

    # identity
    @property
    def id(self) -> str:
        return self._record.id

    @property
    def _id(self) -> str:
        """The id under RQ's private name, which ckanext-xloader's ``status`` command reads."""
        return self._record.id

    def get_id(self) -> str:
        """The job id (RQ's ``get_id``)."""
        return self._record.id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Job) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.func_name} queue={self.queue!r} state={self.state.value}>"

    # what runs
    @property
    def func_name(self) -> str:
        """The job function's import path, ``module:qualname``."""
        return self._record.func

    def _load_call(self) -> tuple[list[Any], dict[str, Any]]:
        if self._call is None:
            allow = self._config.serializer == "pickle"
            self._call = serializer.load_call(self._record.payload, allow_pickle=allow)
        return self._call

    @property
    def args(self) -> list[Any]:
        return self._load_call()[0]

    @property
    def kwargs(self) -> dict[str, Any]:
        return self._load_call()[1]

    @property
    def title(self) -> str | None:
        return self._record.title

    @property
    def description(self) -> str:
        """The description given at enqueue, else RQ's: the call, ``module.func(args...)``."""
        if self._record.description is not None:
            return self._record.description
        return self.get_call_string()

    @property
    def meta(self) -> dict[str, Any]:
        """User metadata: a dict to change in place and store with :meth:`save_meta`.

        ``meta["title"]`` is the title (None without one), as in RQ; it is
        not stored with the rest, so changing it does not retitle the job.
        """
        if self._meta is None:
            self._meta = {**self._record.meta, "title": self._record.title}
        return self._meta

    def save_meta(self) -> None:
        """Store ``meta`` as it is now, where ``jobs show``, the API and other processes see it.

        The running job's own Job (``get_current_job()``) saves through its
        worker's supervisor, only while the job holds its lease
        (JobStateError once it was canceled or taken over). Any other Job
        saves directly, in any state (NoSuchJobError if it is gone), as RQ
        does; the last save wins. Meta must be JSON data (SerializationError).
        """
        meta = _storable_meta(self.meta)
        if self._meta_saver is not None:
            self._meta_saver(meta)
        else:
            backend = shared_backend(self._config.backend, self._config.base_dir)
            if not backend.save_meta(self.id, meta):
                raise NoSuchJobError(self.id)
        self._record = dataclasses.replace(self._record, meta=meta)

    def save(self) -> None:
        """RQ's ``save``: :meth:`save_meta`, meta being what a Job's holder can change."""
        self.save_meta()

    def get_meta(self, refresh: bool = True) -> dict[str, Any]:
        """RQ's ``get_meta``: ``meta``, reloaded from the store first unless ``refresh=False``.

        A job with no record (gone, or run by ``run_synchronously``) keeps the
        meta it has, as :meth:`get_status` keeps its state.
        """
        if refresh:
            record = self._backend().get(self.id)
            if record is not None:
                self._record = record
                self._meta = None
        return self.meta

    @property
    def progress(self) -> dict[str, Any] | None:
        """The progress the job reported with :meth:`set_progress`, if any."""
        value = self.meta.get(PROGRESS_KEY)
        return value if isinstance(value, dict) else None

    def set_progress(self, fraction: float, message: str | None = None) -> None:
        """Report how far the job is: ``fraction`` from 0 to 1, and an optional message.

        Stored in ``meta["progress"]`` as ``{"fraction": ..., "message": ...}``
        (with :meth:`save_meta`), shown by ``jobs show`` and the API.
        """
        check_progress(fraction, message)
        self.meta[PROGRESS_KEY] = {"fraction": float(fraction), "message": message}
        self.save_meta()

    @property
    def timeout(self) -> int:
        """Seconds the job may run before it is killed; -1 means no limit."""
        return self._record.timeout

    # where it is
    @property
    def origin(self) -> str:
        """The full, site-prefixed queue name (RQ's ``origin``)."""
        return self._record.queue

    @property
    def queue(self) -> str:
        """The queue name as the user wrote it, without the site prefix."""
        return split_queue_name(self._record.queue)[1]

    @property
    def state(self) -> JobState:
        return self._record.state

    @property
    def attempts(self) -> int:
        return self._record.attempts

    @property
    def max_attempts(self) -> int:
        return self._record.max_attempts

    @property
    def worker(self) -> str | None:
        return self._record.worker

    # when
    @property
    def created_at(self) -> dt.datetime:
        moment = to_datetime(self._record.created_at)
        assert moment is not None
        return moment

    @property
    def enqueued_at(self) -> dt.datetime | None:
        return to_datetime(self._record.enqueued_at)

    @property
    def started_at(self) -> dt.datetime | None:
        return to_datetime(self._record.started_at)

    @property
    def ended_at(self) -> dt.datetime | None:
        return to_datetime(self._record.ended_at)

    # outcome
    @property
    def result(self) -> Any:
        """What the function returned, if it finished and the value could be stored."""
        if self._record.result is None:
            return None
        return serializer.loads(self._record.result, self._config.serializer == "pickle")

    @property
    def error(self) -> ErrorInfo | None:
        """The error of the last failed attempt."""
        return self._record.error

    @property
    def exc_info(self) -> str | None:
        """RQ's ``exc_info``: the traceback text of the latest run if it failed, else None.

        A job that finished after failed attempts has none, as in RQ, where it
        comes from the latest result; :attr:`errors` keeps every attempt's.
        """
        error = self._record.error
        if error is None or self._record.state is JobState.FINISHED:
            return None
        return error.traceback or f"{error.type}: {error.message}"

    @property
    def errors(self) -> tuple[ErrorInfo, ...]:
        """The errors of every failed attempt, oldest first."""
        return self._record.errors

    @property
    def record(self) -> JobRecord:
        """The backend's record, as last loaded."""
        return self._record

    def _backend(self) -> Backend:
        return shared_backend(self._config.backend, self._config.base_dir)

    def refresh(self) -> None:
        """Reload the job from the backend; NoSuchJobError if it is gone."""
        record = self._backend().get(self.id)
        if record is None:
            raise NoSuchJobError(self.id)
        self._record = record
        self._call = None
        self._meta = None

    # -- RQ's job methods ------------------------------------------------------------
    @classmethod
    def fetch(cls, id: str, connection: Any = None, serializer: Any = None) -> Job:
        """This site's job with the given id (RQ's ``Job.fetch``); NoSuchJobError if none.

        ``connection`` and ``serializer`` are accepted for RQ's callers and
        ignored: the configured store and serializer are used.
        """
        del connection, serializer
        from conveyor.api import job_from_id  # noqa: PLC0415 -- api imports this module

        return job_from_id(id)

    def get_status(self, refresh: bool = True) -> str:
        """The state as a string (RQ's spelling of ``state``), reloaded first by default.

        A job whose record is gone (deleted, or canceled while it waited)
        keeps the state it was last seen in.
        """
        if refresh:
            record = self._backend().get(self.id)
            if record is not None:
                self._record = record
                self._call = None
        return self._record.state.value

    @property
    def is_queued(self) -> bool:
        return self.get_status() == JobState.QUEUED.value

    @property
    def is_scheduled(self) -> bool:
        return self.get_status() == JobState.SCHEDULED.value

    @property
    def is_started(self) -> bool:
        return self.get_status() == JobState.STARTED.value

    @property
    def is_finished(self) -> bool:
        return self.get_status() == JobState.FINISHED.value

    @property
    def is_failed(self) -> bool:
        return self.get_status() == JobState.FAILED.value

    @property
    def is_canceled(self) -> bool:
        return self.get_status() == JobState.CANCELED.value

    def return_value(self, refresh: bool = False) -> Any:
        """What the function returned if the job finished, else None (RQ's ``return_value``)."""
        if refresh:
            self.get_status()
        return self.result if self._record.state is JobState.FINISHED else None

    def get_call_string(self) -> str:
        """The call as Python would write it, ``module.func(1, 'a', key=2)``, as RQ shows it.

        Each argument's repr is cut to 75 characters; keyword arguments are sorted.
        """
        name = self._record.func.replace(":", ".")
        try:
            args, kwargs = self._load_call()
        except Exception:  # e.g. a pickled payload where pickle is not allowed
            return f"{name}(...)"
        parts = [_shortened(repr(value)) for value in args]
        parts += sorted(f"{key}={_shortened(repr(value))}" for key, value in kwargs.items())
        return f"{name}({', '.join(parts)})"

    def cancel(self) -> None:
        """Cancel the job (RQ's ``cancel``): a waiting one is removed, a running one stopped.

        A job that has ended raises JobStateError; one that is gone, NoSuchJobError.
        """
        now = time.time()
        before = self._backend().cancel(self.id, now=now)
        if before is None:
            raise NoSuchJobError(self.id)
        self._record = dataclasses.replace(before, state=JobState.CANCELED, ended_at=now)
        log.info("Cancelled background job %s", self.id, extra={"job_id": self.id})

    def run_now(self) -> None:
        """Run a scheduled job now rather than at its time (see :func:`conveyor.job_run_now`).

        The job is queued at the back of its queue; a job in any other state
        raises JobStateError and is left alone, one that is gone NoSuchJobError.
        """
        store = self._backend()
        moved = store.run_now([self.id], now=time.time())
        record = store.get(self.id)
        if record is not None:  # (a worker may have run it, and not kept it, since)
            self._record, self._call, self._meta = record, None, None
        if not moved:
            if record is None:
                raise NoSuchJobError(self.id)
            raise JobStateError(
                f"Job {self.id} is {record.state.value}; only scheduled jobs can be run now"
            )
        log.info("Made scheduled background job %s due now", self.id, extra={"job_id": self.id})

    def delete(self) -> None:
        """Delete the job's record, whatever its state (RQ's ``delete``).

        A job waiting to run (queued or scheduled) will not run; a running one
        is stopped, as by :meth:`cancel`, and leaves no record. A job that is
        gone already is left so.
        """
        if self._backend().delete(self.id, now=time.time()) is not None:
            log.info("Deleted background job %s", self.id, extra={"job_id": self.id})

    def wait(self, timeout: float | None = None) -> Any:
        """Wait for the job to end and return its result.

        A failed or canceled job raises JobFailedError, which carries its
        error; a job not ended within ``timeout`` seconds (None: no limit)
        raises WaitTimeoutError and goes on. The wait wakes on the store's
        notifications where it has them (PostgreSQL, Redis); on SQLite it
        looks again at growing intervals, up to half a second.
        """
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not math.isfinite(timeout)
            or timeout < 0
        ):
            problem = f"must be seconds (0 or more) or None, not {timeout!r}"
            raise ValidationError({"timeout": [problem]})
        record: JobRecord | None = self._record
        if self._record.state not in ENDED_STATES:
            record = self._backend().wait_ended(self.id, timeout=timeout)
        if record is None:
            raise JobFailedError(self.id, None)
        self._record, self._call, self._meta = record, None, None
        if record.state is JobState.FINISHED:
            return self.result
        if record.state in ENDED_STATES:
            raise JobFailedError(self.id, record.state.value, record.error)
        raise WaitTimeoutError(self.id, timeout or 0, record.state.value)


def check_progress(fraction: object, message: object) -> None:
    """ValidationError unless ``fraction`` is a number from 0 to 1 and ``message`` text or None."""
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, int | float)
        or not (math.isfinite(fraction) and 0 <= fraction <= 1)
    ):
        problem = f"must be a number from 0 to 1, not {fraction!r}"
        raise ValidationError({"progress": [problem]})
    if message is not None and not isinstance(message, str):
        raise ValidationError({"message": [f"must be a string or None, not {message!r}"]})


def _storable_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` without its title, checked to be JSON data every store keeps alike."""
    stored = {key: value for key, value in meta.items() if key != "title"}
    for key in stored:
        if not isinstance(key, str):
            raise SerializationError(f"meta keys must be strings, not {key!r}")
    serializer.check_json(stored, "meta")  # stored as plain JSON, as at enqueue
    limits.check_meta_text(stored)
    return stored


def _shortened(text: str, limit: int = 75) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _safe(value: Any) -> Any:
    """``value`` as JSON data (tagged values in their tagged form), else its repr (for display)."""
    try:
        return serializer.to_json_data(value)[0]
    except Exception:
        return repr(value)


def dictize_job(job: Job) -> dict[str, Any]:
    """The job as a JSON-ready dict.

    The reference's four keys come first with its formats (``id``,
    ``title``, ``created``, ``queue``); conveyor's record follows.
    """
    record = job.record
    error = current_error(record)  # never an old attempt's error as if it were current
    try:
        args: Any = job.args
        kwargs: Any = job.kwargs
    except Exception as exc:
        args = kwargs = f"<not loadable here: {exc}>"
    try:
        result = _safe(job.result)
    except Exception as exc:
        result = f"<not loadable here: {exc}>"
    return {
        "id": record.id,
        "title": record.title,
        "created": format_time(record.created_at),
        "queue": job.queue,
        "state": record.state.value,
        "func": record.func,
        "args": _safe(args),
        "kwargs": _safe(kwargs),
        "description": record.description,
        "meta": _safe(dict(record.meta)),
        "progress": _safe(record.meta.get(PROGRESS_KEY)),
        "timeout": record.timeout,
        "enqueued": format_time(record.enqueued_at),
        "scheduled_for": format_time(record.run_at),
        "started": format_time(record.started_at),
        "ended": format_time(record.ended_at),
        "duration": (
            round(record.ended_at - record.started_at, 6)
            if record.ended_at is not None and record.started_at is not None
            else None
        ),
        "attempts": record.attempts,
        "max_attempts": record.max_attempts,
        "worker": record.worker,
        "result": result,
        "error": error.to_dict() if error else None,
        "errors": [e.to_dict() for e in record.errors],
        "history": attempt_history(record, format_time),
    }
