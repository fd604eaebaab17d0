"""The Job object enqueue() returns, and the reference's dictized form of it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from conveyor import serializer
from conveyor.backends import JobRecord, JobState, shared_backend
from conveyor.backends.base import ErrorInfo, split_queue_name
from conveyor.config import Config
from conveyor.exceptions import NoSuchJobError
from conveyor.history import attempt_history, current_error

#: The reference's timestamp format: UTC, whole seconds, no zone suffix.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


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

    def __init__(self, record: JobRecord, config: Config) -> None:
        self._record = record
        self._config = config
        self._call: tuple[list[Any], dict[str, Any]] | None = None

    # identity
    @property
    def id(self) -> str:
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
    def description(self) -> str | None:
        return self._record.description

    @property
    def meta(self) -> dict[str, Any]:
        """User metadata; ``meta["title"]`` is the title (None without one), as in RQ."""
        return {**self._record.meta, "title": self._record.title}

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

    def get_status(self) -> str:
        """The state as a string (RQ's spelling of ``state``)."""
        return self._record.state.value

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
    def errors(self) -> tuple[ErrorInfo, ...]:
        """The errors of every failed attempt, oldest first."""
        return self._record.errors

    @property
    def record(self) -> JobRecord:
        """The backend's record, as last loaded."""
        return self._record

    def refresh(self) -> None:
        """Reload the job from the backend; NoSuchJobError if it is gone."""
        backend = shared_backend(self._config.backend, self._config.base_dir)
        record = backend.get(self.id)
        if record is None:
            raise NoSuchJobError(self.id)
        self._record = record
        self._call = None


def _safe(value: Any) -> Any:
    """``value`` if it is plain JSON data, else its repr (for display)."""
    try:
        serializer.dumps(value, "json")
    except Exception:
        return repr(value)
    return value


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
