"""The child process: runs jobs the supervisor hands it, one at a time.

A child never talks to the backend on the supervisor's behalf: it receives a
job (function path and payload) over its pipe, runs it, and sends back the
outcome. Everything durable happens in the supervisor, so a child that dies
loses nothing but the run itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

from conveyor import serializer
from conveyor.backends.base import ErrorInfo
from conveyor.exceptions import SerializationError
from conveyor.functions import import_function

_PR_SET_PDEATHSIG = 1
_PROTOCOL = pickle.HIGHEST_PROTOCOL
#: Job functions this child has imported, by path.
_functions: dict[str, Callable[..., Any]] = {}


class Task(NamedTuple):
    """A job handed to a child."""

    job_id: str
    func: str
    payload: bytes
    attempt: int


class Outcome(NamedTuple):
    """What a child reports for one task: a result or an error."""

    job_id: str
    ok: bool
    duration: float
    result: bytes | None = None
    error: ErrorInfo | None = None
    warning: str | None = None


# The pipe carries plain tuples, pickled with the fastest protocol: this is
# the per-job hot path between supervisor and child. None means "stop".
def send(conn: Connection, message: Task | Outcome | None) -> None:
    """Send a task or an outcome (or None) over a child's pipe."""
    conn.send_bytes(pickle.dumps(None if message is None else tuple(message), _PROTOCOL))


def receive_task(conn: Connection) -> Task | None:
    data = pickle.loads(conn.recv_bytes())
    return None if data is None else Task._make(data)


def receive_outcome(conn: Connection) -> Outcome:
    return Outcome._make(pickle.loads(conn.recv_bytes()))


@dataclass(frozen=True)
class ChildSettings:
    """What a child needs to know, fixed when it is forked."""

    serializer: str
    max_jobs: int  # 0: no limit
    init: Callable[[], Any] | str | None = None
    supervisor_pid: int = 0


def _error(exc: BaseException, attempt: int) -> ErrorInfo:
    # Start the traceback at the job's own code, not at run_task.
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    return ErrorInfo(
        type=type(exc).__qualname__,
        message=str(exc),
        traceback="".join(traceback.format_exception(type(exc), exc, tb)),
        attempt=attempt,
        at=time.time(),
    )


def run_task(task: Task, settings: ChildSettings) -> Outcome:
    """Run one job in this process and describe how it went."""
    began = time.perf_counter()
    try:
        fn = _functions.get(task.func)
        if fn is None:
            fn = _functions[task.func] = import_function(task.func)
        args, kwargs = serializer.load_call(
            task.payload, allow_pickle=settings.serializer == "pickle"
        )
        value = fn(*args, **kwargs)
    except BaseException as exc:
        return Outcome(
            task.job_id, False, time.perf_counter() - began, error=_error(exc, task.attempt)
        )
    duration = time.perf_counter() - began
    if value is None:
        return Outcome(task.job_id, True, duration)
    try:
        result = serializer.dumps(value, settings.serializer, what="result")
    except SerializationError as exc:
        return Outcome(task.job_id, True, duration, warning=f"Result not stored: {exc}")
    return Outcome(task.job_id, True, duration, result=result)


def _run_init(init: Callable[[], Any] | str | None) -> None:
    if init is None or init == "":
        return
    hook = import_function(init) if isinstance(init, str) else init
    hook()


def _die_with_supervisor(supervisor_pid: int) -> None:
    """Ask Linux to SIGKILL this child when its supervisor dies.

    A job orphaned by a killed supervisor could not report its outcome, and
    its lease would expire while it still ran, so a second run could overlap
    it. Killing it makes the retry the only run. Elsewhere the child still
    exits at its next read from the closed pipe.
    """
    if not sys.platform.startswith("linux") or not supervisor_pid:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != supervisor_pid:  # it died before prctl took effect
        os._exit(1)


def child_main(conn: Connection, settings: ChildSettings, inherited: Sequence[Any]) -> None:
    """The body of a child process."""
    _die_with_supervisor(settings.supervisor_pid)
    # Ctrl+C reaches the whole process group; only the supervisor decides to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for handle in inherited:  # other children's pipes and the supervisor's wake-up pipe
        with contextlib.suppress(OSError):
            handle.close()
    _run_init(settings.init)
    done = 0
    while settings.max_jobs == 0 or done < settings.max_jobs:
        try:
            task = receive_task(conn)
        except (EOFError, OSError):  # the supervisor is gone
            return
        if task is None:
            return
        outcome = run_task(task, settings)
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            send(conn, outcome)
        except (BrokenPipeError, OSError):
            return
        done += 1
