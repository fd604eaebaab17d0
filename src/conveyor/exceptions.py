"""Everything conveyor raises, under one root.

::

    ConveyorError
    ├── ConfigError              a config file or value is malformed
    ├── BackendError             the job store failed
    │   ├── BackendUnavailable   the job store cannot be reached (or stays locked)
    │   ├── StoreVersionError    the job store was written by a newer conveyor
    │   └── NoStoreError         a read-only command found no job store (and made none)
    ├── InvalidJobError          enqueue() was given something it cannot store
    │   ├── FunctionNotImportable   the job function could not be named or imported
    │   │   └── JobImportError      a worker could not import a job's function (code missing?)
    │   └── SerializationError      the arguments (or a result) cannot be serialized
    ├── DuplicateJobError        a job with that id exists and has not ended
    ├── NoSuchJobError           (also a KeyError) no job with that id, on this site
    ├── JobStateError            the job is in a state the operation does not allow
    ├── JobTimeoutException      raised inside a running job that reached its timeout
    ├── JobFailedError           wait(): the job failed or was canceled (carries its error)
    ├── WaitTimeoutError         (also a TimeoutError) wait(): the job did not end in time
    ├── ValidationError          (also a ValueError) a management call got bad input
    ├── DuplicateTokenError      an API token of that name exists already on this site
    ├── NoSuchTokenError         (also a KeyError) no API token of that name on this site
    ├── PeriodicJobError         a periodic job's declaration is malformed
    └── NoSuchPeriodicJob        (also a KeyError) no periodic job of that name on this site

Each class's docstring says when it is raised; the instance's message says
what exactly was wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def extra_needed(what: str, extra: str) -> str:
    """The message for ``what`` when the optional dependencies of ``extra`` are missing."""
    return f"{what} needs the '{extra}' extra: pip install 'conveyor[{extra}]'"


class ConveyorError(Exception):
    """The root of every error conveyor raises on purpose."""


class ConfigError(ConveyorError):
    """A configuration file, key or value is malformed."""


class BackendError(ConveyorError):
    """The job store reported an error."""


class BackendUnavailable(BackendError):
    """The job store cannot be reached, or stayed locked past its timeout."""


class StoreVersionError(BackendError):
    """The job store's layout is newer than this conveyor knows: a newer release wrote it.

    Opening it could lose what the newer release stores, so it is refused;
    upgrade conveyor instead. ``found`` and ``known`` are the store's layout
    version and the newest this code knows.
    """

    def __init__(self, store: str, found: int, known: int) -> None:
        self.store = store
        self.found = found
        self.known = known
        super().__init__(
            f"The conveyor store {store} is at layout version {found}, but this conveyor"
            f" knows versions up to {known}: a newer conveyor wrote it; upgrade conveyor"
            " to open it"
        )


class NoStoreError(BackendError):
    """There is no job store where the configuration points, and none was created.

    Raised for commands that only read (``jobs list``, ``jobs show``,
    ``conveyor info`` ...), which must not create an empty store in the
    wrong place; the message names the place looked at.
    """


class InvalidJobError(ConveyorError):
    """enqueue() was given a job it cannot store; nothing was stored."""


class FunctionNotImportable(InvalidJobError):
    """The job function cannot be named by an import path a worker could use."""


class JobImportError(FunctionNotImportable):
    """A worker could not import a job's function: its code is missing there, or out of date.

    Raised in the worker's child; the message names the module, the worker's
    working directory and its import path. The job is retried later without
    counting the attempt (see docs/reliability.md).
    """


class SerializationError(InvalidJobError):
    """A value cannot be serialized with the configured serializer."""


class DuplicateJobError(ConveyorError):
    """A job with the requested id is queued, scheduled or running; nothing was stored.

    ``job_id`` is the id that was taken; every backend raises it with the
    same message. (The id of a job that has ended is reused: the new job
    replaces its record.)
    """

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(
            f"A job with ID {job_id!r} exists already and has not ended; nothing was enqueued"
        )


class NoSuchJobError(ConveyorError, KeyError):
    """There is no job with the given id on this site.

    It is a :class:`KeyError` because the reference's ``job_from_id`` raises
    one; unlike a plain ``KeyError`` its ``str()`` is the message itself.
    """

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f'There is no job with ID "{job_id}".')

    def __str__(self) -> str:
        return str(self.args[0])


class JobStateError(ConveyorError):
    """The job's state does not allow the operation (e.g. cancelling a finished job)."""

    @classmethod
    def cannot_cancel(cls, job_id: str, state: str) -> JobStateError:
        """The error for cancelling job ``job_id``, which has ended in ``state``."""
        return cls(
            f"Job {job_id} has already {state}; only queued, scheduled or started jobs"
            " can be canceled"
        )


class JobTimeoutException(ConveyorError):
    """Raised inside a running job that reached its timeout (RQ's name, for ported code).

    The job's ``except`` and ``finally`` blocks run; a job still running
    ``conveyor.jobs.timeout_grace`` seconds later has its process killed. The
    job is recorded as timed out (``JobTimeoutError``) either way.
    """


class JobFailedError(ConveyorError):
    """The job waited for failed, was canceled, or is gone before it finished.

    ``job_id``, ``state`` (``"failed"``, ``"canceled"``, or None when the
    record is gone) and ``error`` (the last attempt's ErrorInfo, or None)
    say how.
    """

    def __init__(self, job_id: str, state: str | None, error: Any = None) -> None:
        self.job_id = job_id
        self.state = state
        self.error = error
        if state is None:
            text = (
                f"Job {job_id} is gone before it finished: it was canceled or deleted"
                " before it ran, or its record was not kept (a result_ttl or failure_ttl of 0)"
            )
        elif error is not None:
            text = f"Job {job_id} {state}: {error.type}: {error.message}"
        else:
            text = f"Job {job_id} {state}"
        super().__init__(text)


class WaitTimeoutError(ConveyorError, TimeoutError):
    """The job waited for did not end within the time given; it goes on as it was."""

    def __init__(self, job_id: str, timeout: float, state: str) -> None:
        self.job_id = job_id
        self.state = state
        super().__init__(f"Job {job_id} did not end within {timeout:g} s (it is {state})")


class ValidationError(ConveyorError, ValueError):
    """A management call got malformed input; ``errors`` maps each field to its problems."""

    def __init__(self, errors: Mapping[str, Sequence[str]]) -> None:
        self.errors = {field: list(messages) for field, messages in errors.items()}
        text = "; ".join(f"{field}: {', '.join(msgs)}" for field, msgs in self.errors.items())
        super().__init__(text)


class DuplicateTokenError(ConveyorError):
    """This site has an API token of that name already; nothing was stored."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f'There is an API token named "{name}" already')


class NoSuchTokenError(ConveyorError, KeyError):
    """This site has no API token of that name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f'There is no API token named "{name}"')

    def __str__(self) -> str:
        return str(self.args[0])


class NoSuchWorkerError(ConveyorError, KeyError):
    """No live worker of this site has that key or name."""

    def __init__(self, key_or_name: str) -> None:
        self.key_or_name = key_or_name
        super().__init__(f'There is no live worker with key or name "{key_or_name}"')

    def __str__(self) -> str:
        return str(self.args[0])


class PeriodicJobError(ConveyorError):
    """A periodic job was declared with a schedule, name or option that cannot work."""


class NoSuchPeriodicJob(ConveyorError, KeyError):
    """This site has no periodic job of that name (declared here or known to the store)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f'There is no periodic job named "{name}"')

    def __str__(self) -> str:
        return str(self.args[0])
