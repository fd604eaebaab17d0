"""The child process: runs jobs the supervisor hands it, one at a time.

A child never talks to the backend on the supervisor's behalf: it receives a
job (function path and payload) over its pipe, runs it, and sends back the
outcome. Everything durable happens in the supervisor, so a child that dies
loses nothing but the run itself.

While quick jobs flow, the supervisor may send a child its next few tasks
before the current one ends, so the child goes straight on to them without
waiting for the supervisor to wake. If the running job turns out long, the
supervisor takes the waiting tasks back and returns them to their queues.
Which comes first for each task, the child starting it or the supervisor
taking it back, is settled exactly once by a ``Gate`` in shared memory, so a
job taken back never runs here, and a job that started is never handed to
anyone else.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing.context
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
from conveyor.functions import import_function, import_job_function

_PR_SET_PDEATHSIG = 1
_PROTOCOL = pickle.HIGHEST_PROTOCOL
#: Job functions this child has imported, by path.
_functions: dict[str, Callable[..., Any]] = {}


class Task(NamedTuple):
    """A job handed to a child."""

    seq: int  # numbers the tasks sent to one child, in order; the gate and outcomes use it
    job_id: str
    func: str
    payload: bytes
    attempt: int


class Outcome(NamedTuple):
    """What a child reports for one task: a result or an error."""

    seq: int
    job_id: str
    ok: bool
    duration: float
    result: bytes | None = None
    error: ErrorInfo | None = None
    warning: str | None = None


class Gate:
    """Settles, for each task sent to a busy child, whether it starts or is taken back.

    Two numbers in memory shared with the child, under a lock (a futex when
    uncontended: no system call): the last task the child started, and the
    last one the supervisor took back (with every task before it that had not
    started). Tasks are numbered, and start, in the order they were sent.
    """

    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        self._lock = context.Lock()
        self._cells = context.RawArray("q", 2)  # last started, last taken back

    def start(self, seq: int) -> bool:
        """In the child: start task ``seq``, unless it was taken back."""
        with self._lock:
            if seq <= self._cells[1]:
                return False
            self._cells[0] = seq
            return True

    def take_back(self, upto: int) -> int:
        """In the supervisor: take back the tasks up to ``upto`` that have not started.

        Returns the last task the child started: those after it, up to
        ``upto``, will never start.
        """
        with self._lock:
            started: int = self._cells[0]
            if started < upto:
                self._cells[1] = upto
            return started


# The pipe carries plain tuples, pickled with the fastest protocol: this is
# the per-job hot path between supervisor and child. None means "stop".
def send(conn: Connection, message: Task | Outcome | None) -> None:
    """Send a task, an outcome or a stop over a child's pipe."""
    data = tuple(message) if isinstance(message, tuple) else message  # plain: cheaper
    conn.send_bytes(pickle.dumps(data, _PROTOCOL))


def next_task(conn: Connection, gate: Gate) -> Task | None:
    """The next task to run (blocking until there is one), or None to stop.

    Tasks the supervisor took back are dropped.
    """
    while True:
        message = pickle.loads(conn.recv_bytes())
        if message is None:
            return None
        task = Task._make(message)
        if gate.start(task.seq):
            return task


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
            fn = _functions[task.func] = import_job_function(task.func)
        args, kwargs = serializer.load_call(
            task.payload, allow_pickle=settings.serializer == "pickle"
        )
        value = fn(*args, **kwargs)
    except BaseException as exc:
        return Outcome(
            task.seq,
            task.job_id,
            False,
            time.perf_counter() - began,
            error=_error(exc, task.attempt),
        )
    duration = time.perf_counter() - began
    if value is None:
        return Outcome(task.seq, task.job_id, True, duration)
    try:
        result = serializer.dumps(value, settings.serializer, what="result")
    except SerializationError as exc:
        return Outcome(task.seq, task.job_id, True, duration, warning=f"Result not stored: {exc}")
    return Outcome(task.seq, task.job_id, True, duration, result=result)


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


def child_main(
    conn: Connection, settings: ChildSettings, gate: Gate, inherited: Sequence[Any]
) -> None:
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
    # A child that reached its job limit still runs what it was already sent.
    while settings.max_jobs == 0 or done < settings.max_jobs or conn.poll():
        try:
            task = next_task(conn, gate)
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
