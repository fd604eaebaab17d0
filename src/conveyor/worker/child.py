"""The child process: runs jobs the supervisor hands it, one at a time.

A child never talks to the backend on the supervisor's behalf: it receives a
job (function path and payload) over its pipe, runs it, and sends back the
outcome. Everything durable happens in the supervisor, so a child that dies
loses nothing but the run itself.

While quick jobs flow, the supervisor may send a child its next few jobs
before the current one ends, so the child goes straight on to them without
waiting for the supervisor to wake. If the running job turns out long, the
supervisor takes the waiting jobs back and returns them to their queues.
Which comes first for each job message, the child starting it or the supervisor
taking it back, is settled exactly once by a ``Gate`` in shared memory, so a
job taken back never runs here, and a job that started is never handed to
anyone else.

The job itself runs through :func:`conveyor.execution.run_job`, as in
``conveyor.testing``. While it runs, the job may ask its supervisor for its
record (``get_current_job()``) and to save its meta: a :class:`Request` up
the pipe, answered by a reply, with any job message that arrives meanwhile kept for
later. The child never opens a store connection of its own for that: the
supervisor saves the meta with the job's lease token, so a job that lost
its lease cannot write.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing.context
import os
import pickle
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

from conveyor import config as _config
from conveyor.backends.base import ErrorInfo, JobRecord
from conveyor.exceptions import BackendError, JobStateError
from conveyor.execution import Alarm, run_job
from conveyor.functions import import_function
from conveyor.job import Job
from conveyor.worker.frames import Frames, write_frame

_PR_SET_PDEATHSIG = 1
_PROTOCOL = pickle.HIGHEST_PROTOCOL
#: Job functions this child has imported, by path (and whether each is ``async def``).
_functions: dict[str, tuple[Callable[..., Any], bool]] = {}


class JobMessage(NamedTuple):
    """A job handed to a child: what it needs to run it."""

    seq: int  # numbers the jobs sent to one child, in order; the gate and outcomes use it
    job_id: str
    func: str
    payload: bytes
    attempt: int
    timeout: int = -1  # seconds; -1: no limit


class Outcome(NamedTuple):
    """What a child reports for one job: a result or an error."""

    seq: int
    job_id: str
    ok: bool
    duration: float
    result: bytes | None = None
    error: ErrorInfo | None = None
    warning: str | None = None
    timed_out: bool = False  # the job reached its timeout (then ``ok`` is False)


class Request(NamedTuple):
    """What a running job asks its supervisor: its ``record``, or to save its ``meta``."""

    kind: str  # first, where an Outcome has its (int) seq: how the supervisor tells them apart
    job_id: str
    value: Any = None


#: The first element of a reply to a Request: ``(REPLY, ok, value or error message)``.
REPLY = "reply"


class Fence:
    """What keeps a child inside its lease and its timeout, in memory shared with the supervisor.

    The supervisor writes, each time it claims or renews the leases of the
    child's jobs, the ``time.monotonic()`` (one clock for every process on
    Linux) by which the child must have stopped unless renewed again: the
    lease's expiry less a safety margin (see docs/reliability.md). A
    watchdog thread in the child kills the child's whole process group when
    that moment passes while a job runs, or when the running job outlives
    its timeout and grace, whether or not the supervisor is scheduled, and
    first notes why, for the supervisor to read once it learns of the death.
    Plain doubles, no lock: each is written by one side only.
    """

    #: Why a child's watchdog killed it (``reason``).
    NONE, LEASE, TIMEOUT = 0.0, 1.0, 2.0

    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        self._cells = context.RawArray("d", 2)  # stop-by (monotonic; 0: none), reason

    @property
    def stop_by(self) -> float:
        value: float = self._cells[0]
        return value

    @stop_by.setter
    def stop_by(self, when: float) -> None:
        self._cells[0] = when

    @property
    def reason(self) -> float:
        value: float = self._cells[1]
        return value

    @reason.setter
    def reason(self, why: float) -> None:
        self._cells[1] = why


_WATCH_TICK = 0.05  # how often a child's watchdog looks at the clock (seconds)


class Watchdog:
    """In the child: kills its own process group past the lease fence or the hard timeout.

    It also rings the job's ``alarm`` at the job's timeout (SIGALRM to the
    main thread, where the alarm raises JobTimeoutException), so that
    starting a job costs no timer system call: the timeout is then noticed
    within one ``_WATCH_TICK``.
    """

    def __init__(self, fence: Fence, grace: float, alarm: Alarm | None = None) -> None:
        self.fence = fence
        self.grace = grace
        self.alarm = alarm
        self.hard_deadline = 0.0  # monotonic; 0: no job running, or no timeout
        self.running = False
        self._main = threading.main_thread().ident or 0

    def job_started(self, timeout: int) -> None:
        now = time.monotonic()
        stop_by = self.fence.stop_by
        if stop_by and now >= stop_by:  # its lease may be gone already: never start it
            self._kill_group(Fence.LEASE)
        self.hard_deadline = now + timeout + self.grace if timeout >= 0 else 0.0
        self.running = True

    def job_ended(self) -> None:
        self.running = False

    def start(self) -> None:
        threading.Thread(target=self._watch, name="conveyor-watchdog", daemon=True).start()

    def _watch(self) -> None:
        fence = self.fence
        while True:
            time.sleep(_WATCH_TICK)
            if not self.running:
                continue
            now = time.monotonic()
            stop_by = fence.stop_by
            if stop_by and now >= stop_by:
                self._kill_group(Fence.LEASE)
            alarm = self.alarm
            if alarm is not None and alarm.due(now):  # rung until the job takes it
                with contextlib.suppress(ProcessLookupError):
                    signal.pthread_kill(self._main, signal.SIGALRM)
            hard = self.hard_deadline
            if hard and now >= hard:
                self._kill_group(Fence.TIMEOUT)

    def _kill_group(self, why: float) -> None:
        self.fence.reason = why
        pid = os.getpid()
        if os.getpgrp() == pid:  # never the supervisor's group
            os.killpg(pid, signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)


class Gate:
    """Settles, for each job sent to a busy child, whether it starts or is taken back.

    Two numbers in memory shared with the child, under a lock (a futex when
    uncontended: no system call): the last job the child started, and the
    last one the supervisor took back (with every job before it that had not
    started). Jobs are numbered, and start, in the order they were sent.
    """

    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        self._lock = context.Lock()
        self._cells = context.RawArray("q", 2)  # last started, last taken back

    def start(self, seq: int) -> bool:
        """In the child: start job ``seq``, unless it was taken back."""
        with self._lock:
            if seq <= self._cells[1]:
                return False
            self._cells[0] = seq
            return True

    def take_back(self, upto: int) -> int:
        """In the supervisor: take back the jobs up to ``upto`` that have not started.

        Returns the last job the child started: those after it, up to
        ``upto``, will never start.
        """
        with self._lock:
            started: int = self._cells[0]
            if started < upto:
                self._cells[1] = upto
            return started


# The pipe carries plain tuples, pickled with the fastest protocol: this is
# the per-job hot path between supervisor and child. None means "stop".
def send(
    conn: Connection, message: JobMessage | Outcome | Request | tuple[Any, ...] | None
) -> None:
    """Send a job, an outcome, a request, a reply or a stop over a child's pipe."""
    data = tuple(message) if isinstance(message, tuple) else message  # plain: cheaper
    write_frame(conn, pickle.dumps(data, _PROTOCOL))


def receive_outcome(frames: Frames) -> Outcome | Request:
    """In the supervisor: what a child sent, the outcome of a job or a request from it."""
    message = pickle.loads(frames.next())
    if type(message[0]) is str:
        return Request._make(message)
    return Outcome._make(message)


class Channel:
    """The child's end of its pipe: jobs in; outcomes and the running job's requests out.

    A request waits for its reply; jobs that arrive before it are kept, in
    order, for ``next_job``. The lock keeps a thread of the job that saves
    meta from interleaving with the child's own reads and writes; SIGALRM is
    held off while a request waits, so a job's timeout can never cut a
    message in half (it is raised as soon as the reply is in).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.frames = Frames(conn)
        self.early: deque[Any] = deque()  # messages read while waiting for a reply
        self.lock = threading.Lock()
        self.running: str | None = None  # the id of the job running here, if any

    def pending(self) -> bool:
        return bool(self.early) or self.frames.ready() or self.conn.poll()

    def next_job(self, gate: Gate) -> JobMessage | None:
        with self.lock:
            while True:
                early = self.early
                message = early.popleft() if early else pickle.loads(self.frames.next())
                if message is None:
                    return None
                job = JobMessage._make(message)
                if gate.start(job.seq):
                    return job

    def send(self, outcome: Outcome) -> None:
        with self.lock:
            send(self.conn, outcome)

    def ask(self, request: Request) -> Any:
        """Send ``request`` to the supervisor; its answer (BackendError if it failed)."""
        with self.lock:
            # A thread that outlived its job would be answered for the next one.
            if request.job_id != self.running:
                raise JobStateError(f"Job {request.job_id} is not running any more")
            held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            try:
                message = self._exchange(request)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
        _, ok, value = message
        if not ok:
            raise BackendError(str(value))
        return value

    def _exchange(self, request: Request) -> tuple[str, bool, Any]:
        try:
            send(self.conn, request)
            while True:
                message = pickle.loads(self.frames.next())
                if isinstance(message, tuple) and message[0] == REPLY:
                    return message
                self.early.append(message)
        except (EOFError, OSError) as exc:
            raise BackendError(f"The worker's supervisor is gone: {exc}") from None


class _Host:
    """A job running in this child: its record and meta go through the supervisor."""

    def __init__(self, channel: Channel, job_id: str) -> None:
        self.channel = channel
        self.job_id = job_id
        self._job: Job | None = None

    def job(self) -> Job:
        if self._job is None:
            record: JobRecord = self.channel.ask(Request("record", self.job_id))
            self._job = Job(record, _config.current(), meta_saver=self.save_meta)
        return self._job

    def save_meta(self, meta: dict[str, Any]) -> None:
        if not self.channel.ask(Request("meta", self.job_id, meta)):
            raise JobStateError(
                f"Job {self.job_id} no longer holds its lease (canceled, or taken over"
                " after its lease expired): its meta was not saved"
            )


@dataclass(frozen=True)
class ChildSettings:
    """What a child needs to know, fixed when it is forked."""

    serializer: str
    max_jobs: int  # 0: no limit
    init: Callable[[], Any] | str | None = None
    supervisor_pid: int = 0
    timeout_grace: float = 0.0  # seconds between a job's JobTimeoutException and its kill


def run_job_message(
    message: JobMessage,
    settings: ChildSettings,
    channel: Channel,
    alarm: Alarm | None = None,
    watchdog: Watchdog | None = None,
) -> Outcome:
    """Run one job in this process and describe how it went."""
    channel.running = message.job_id
    if watchdog is not None:
        watchdog.job_started(message.timeout)
    ran = run_job(
        message.func,
        message.payload,
        message.attempt,
        _Host(channel, message.job_id),
        serializer_name=settings.serializer,
        alarm=alarm,
        timeout=message.timeout,
        functions=_functions,
    )
    channel.running = None
    if watchdog is not None:
        watchdog.job_ended()
    return Outcome(
        message.seq,
        message.job_id,
        ran.ok,
        ran.duration,
        ran.result,
        ran.error,
        ran.warning,
        ran.timed_out,
    )


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


def _own_group() -> None:
    """Lead a process group of its own: the supervisor kills the whole group, grandchildren too."""
    with contextlib.suppress(OSError):  # the supervisor may have made it one already
        os.setpgid(0, 0)


def child_main(
    conn: Connection,
    settings: ChildSettings,
    gate: Gate,
    inherited: Sequence[Any],
    fence: Fence | None = None,
) -> None:
    """The body of a child process."""
    _own_group()
    _die_with_supervisor(settings.supervisor_pid)
    # Ctrl+C reaches the whole process group; only the supervisor decides to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for handle in inherited:  # other children's pipes and the supervisor's wake-up pipe
        with contextlib.suppress(OSError):
            handle.close()
    _run_init(settings.init)
    channel = Channel(conn)
    # The watchdog rings the alarm: no timer system call per job.
    alarm = Alarm(timer=fence is None)
    watchdog = None
    if fence is not None:
        watchdog = Watchdog(fence, settings.timeout_grace, alarm)
        watchdog.start()
    done = 0
    # A child that reached its job limit still runs what it was already sent.
    while settings.max_jobs == 0 or done < settings.max_jobs or channel.pending():
        try:
            message = channel.next_job(gate)
        except (EOFError, OSError):  # the supervisor is gone
            return
        if message is None:
            return
        outcome = run_job_message(message, settings, channel, alarm, watchdog)
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            channel.send(outcome)
        except (BrokenPipeError, OSError):
            return
        done += 1
