"""Running one job: the one path a worker's child and ``conveyor.testing`` both take.

:func:`run_job` imports the job function, decodes its arguments, makes the
job current (:func:`get_current_job`), calls the function (an ``async def``
function is awaited to completion with :func:`asyncio.run`) and describes
how it went: the result to store, or the error with a traceback that starts
at the job's own code. Every exception counts, ``BaseException`` included:
``sys.exit()`` in a job fails the job, it does not end the process running it.

Where a job runs is its :class:`Host`: it builds the job's :class:`Job` when
the job first asks for itself, and that Job saves its meta the host's way (a
worker's child asks its supervisor, which saves it fenced by the job's lease;
``conveyor.testing`` saves it itself).

In a worker's child an :class:`Alarm` enforces the job's timeout from inside:
at the deadline SIGALRM raises :class:`JobTimeoutException` in the job's
main thread (an ``async def`` job's task is cancelled instead), so its
``except`` and ``finally`` blocks run. The supervisor kills the child only if
the job is still running ``conveyor.jobs.timeout_grace`` seconds later. Once
the alarm went off, the run counts as timed out however the job ended.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import signal
import time
import traceback
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from types import FrameType, TracebackType
from typing import Any, NamedTuple, Protocol

from conveyor import serializer
from conveyor.backends.base import ErrorInfo
from conveyor.exceptions import JobTimeoutException, SerializationError
from conveyor.functions import import_job_function
from conveyor.job import Job, check_progress

#: How a timed-out run is recorded, whichever way it ended (the supervisor's kill too).
TIMEOUT_ERROR_TYPE = "JobTimeoutError"


def timeout_message(timeout: int) -> str:
    """The error message of a timed-out run (RQ's wording)."""
    return f"Job exceeded maximum timeout value ({timeout} seconds)"


class Host(Protocol):
    """Where a job runs, as the job sees it."""

    def job(self) -> Job:
        """The running job's Job, its meta saved this host's way; the same Job on every call."""
        ...


class Ran(NamedTuple):
    """How one run went."""

    ok: bool
    duration: float  # seconds
    result: bytes | None = None  # the serialized return value, if any and storable
    error: ErrorInfo | None = None
    warning: str | None = None  # e.g. a result that could not be stored
    timed_out: bool = False
    exception: BaseException | None = None  # what the job raised, for conveyor.testing


_current: contextvars.ContextVar[Host | None] = contextvars.ContextVar(
    "conveyor_current_job", default=None
)


def get_current_job() -> Job | None:
    """The job running here (in a worker's child, ``run_synchronously`` or ``run_jobs``), or None.

    As RQ's: code called by a job learns its id, queue, attempt, meta ...
    Threads the job starts do not see it; an ``async def`` job's tasks do.
    """
    host = _current.get()
    return None if host is None else host.job()


def set_progress(fraction: float, message: str | None = None) -> bool:
    """Store the running job's progress (see :meth:`Job.set_progress`); False outside a job.

    The input is checked in either case, so a mistake shows outside a worker too.
    """
    check_progress(fraction, message)
    job = get_current_job()
    if job is None:
        return False
    job.set_progress(fraction, message)
    return True


class Alarm:
    """A job's timeout, as SIGALRM in this process's main thread (a worker's child only).

    One system call a job: the timer is armed as a job starts and left to
    run out after it ends (the next job re-arms it). The handler acts only
    while a job is armed and its deadline has come, so a timer left from an
    earlier job is ignored, and one that rings early is set again for the
    rest.
    """

    def __init__(self) -> None:
        self.timeout = -1
        self.deadline = 0.0  # monotonic
        self.armed = False
        self.fired = False
        self._pending = False  # a timer may still run from an earlier job
        self._task: tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]] | None = None
        signal.signal(signal.SIGALRM, self._ring)

    def arm(self, timeout: int) -> None:
        """Go off ``timeout`` seconds from now (-1: never)."""
        self.fired = False
        self.timeout = timeout
        if timeout >= 0:
            if signal.getsignal(signal.SIGALRM) != self._ring:  # an earlier job replaced it
                signal.signal(signal.SIGALRM, self._ring)
            self.deadline = time.monotonic() + timeout
            self.armed = self._pending = True
            signal.setitimer(signal.ITIMER_REAL, max(float(timeout), 0.001))
        elif self._pending:
            self._pending = False
            signal.setitimer(signal.ITIMER_REAL, 0)

    def watch(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
        """An ``async def`` job runs as ``task``: cancel it, rather than raise, at the deadline."""
        self._task = (loop, task)

    def disarm(self) -> None:
        """The job ended: a signal that arrives from now on is ignored."""
        self.armed = False
        self._task = None

    def _ring(self, signum: int, frame: FrameType | None) -> None:
        del signum, frame
        if not self.armed:
            return
        early = self.deadline - time.monotonic()
        if early > 0:  # the clocks disagree a little
            signal.setitimer(signal.ITIMER_REAL, max(early, 0.001))
            return
        self.armed = False
        self.fired = True
        message = timeout_message(self.timeout)
        if self._task is None:
            raise JobTimeoutException(message)
        loop, task = self._task
        task.cancel(message)
        loop.call_soon_threadsafe(_nothing)  # wake the loop if it waits


def _nothing() -> None:
    pass


def run_job(
    func: str,
    payload: bytes,
    attempt: int,
    host: Host,
    *,
    serializer_name: str,
    alarm: Alarm | None = None,
    timeout: int = -1,
    functions: dict[str, tuple[Callable[..., Any], bool]] | None = None,
) -> Ran:
    """Run one job here, as the current job of ``host``, and describe how it went.

    ``alarm`` (with ``timeout``) enforces the timeout; ``functions`` caches
    imported job functions (and whether each is ``async def``) across runs:
    a worker's child keeps one; tests import afresh, so ``mock.patch`` applies.
    """
    token = _current.set(host)
    began = time.perf_counter()
    try:
        try:
            if alarm is not None:
                alarm.arm(timeout)
            value = _call(func, payload, serializer_name, alarm, functions)
        finally:
            if alarm is not None:
                alarm.disarm()
    except BaseException as exc:
        duration = time.perf_counter() - began
        if alarm is not None and alarm.fired:
            return _timed_out(duration, attempt, timeout, exc)
        return Ran(False, duration, error=error_info(exc, attempt), exception=exc)
    finally:
        _current.reset(token)
    duration = time.perf_counter() - began
    if alarm is not None and alarm.fired:  # it caught the exception and returned
        return _timed_out(duration, attempt, timeout, None)
    return _finished(value, duration, serializer_name)


def _call(
    func: str,
    payload: bytes,
    serializer_name: str,
    alarm: Alarm | None,
    functions: dict[str, tuple[Callable[..., Any], bool]] | None,
) -> Any:
    known = functions.get(func) if functions is not None else None
    if known is None:
        fn = import_job_function(func)
        known = (fn, inspect.iscoroutinefunction(fn))
        if functions is not None:
            functions[func] = known
    fn, is_async = known
    args, kwargs = serializer.load_call(payload, allow_pickle=serializer_name == "pickle")
    if is_async:
        return _await(fn(*args, **kwargs), alarm)
    value = fn(*args, **kwargs)
    if value is not None and inspect.isawaitable(value):
        if inspect.iscoroutine(value):
            value.close()  # never to run: no "never awaited" warning on top of the error
        raise TypeError(
            f"The job function {func} returned an awaitable ({type(value).__name__})"
            " instead of a result: define it with `async def` (conveyor then awaits it),"
            " or await what it calls inside the job"
        )
    return value


def _await(awaitable: Awaitable[Any], alarm: Alarm | None) -> Any:
    """Run an ``async def`` job to completion on an event loop of its own."""

    async def main() -> Any:
        if alarm is not None:
            task = asyncio.current_task()
            assert task is not None
            alarm.watch(asyncio.get_running_loop(), task)
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    # A loop runs in this thread already (an async test using conveyor.testing):
    # the job gets its own loop in another thread, in this context.
    context = contextvars.copy_context()
    with ThreadPoolExecutor(1, thread_name_prefix="conveyor-async-job") as pool:
        return pool.submit(context.run, asyncio.run, main()).result()


def _finished(value: Any, duration: float, serializer_name: str) -> Ran:
    if value is None:
        return Ran(True, duration)
    try:
        result = serializer.dumps(value, serializer_name, what="result")
    except SerializationError as exc:
        return Ran(True, duration, warning=f"Result not stored: {exc}")
    return Ran(True, duration, result=result)


def _timed_out(duration: float, attempt: int, timeout: int, exc: BaseException | None) -> Ran:
    trace = "" if exc is None else _format(exc)
    error = ErrorInfo(
        TIMEOUT_ERROR_TYPE, timeout_message(timeout), trace, attempt=attempt, at=time.time()
    )
    return Ran(False, duration, error=error, timed_out=True, exception=exc)


def _ours(tb: TracebackType) -> bool:
    name = str(tb.tb_frame.f_globals.get("__name__", ""))
    return name in {__name__, "asyncio"} or name.startswith("asyncio.")


def _format(exc: BaseException) -> str:
    # The traceback starts at the job's own code, not at run_job (or asyncio's loop).
    tb = exc.__traceback__
    while tb is not None and _ours(tb):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def error_info(exc: BaseException, attempt: int) -> ErrorInfo:
    """What a failed run records: the exception's type, message and traceback."""
    return ErrorInfo(
        type=type(exc).__qualname__,
        message=str(exc),
        traceback=_format(exc),
        attempt=attempt,
        at=time.time(),
    )
