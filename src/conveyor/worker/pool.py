"""The supervisor's child processes: starting, feeding and stopping them."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from conveyor.backends import JobRecord
from conveyor.worker.child import ChildSettings, Fence, Gate, JobMessage, child_main, send
from conveyor.worker.clock import Clock
from conveyor.worker.frames import Frames

_FORK = multiprocessing.get_context("fork")


@dataclass
class HandedJob:
    """A job handed to a child, as the supervisor tracks it: running, or waiting in its pipe."""

    record: JobRecord
    token: str
    began: float = 0.0  # monotonic
    deadline: float | None = None  # monotonic; None for no limit
    started_at: float = 0.0  # wall clock, recorded as the job's start
    seq: int = 0  # the job's number on its child's pipe
    grace: float = 0.0  # seconds a timed-out job gets (after its JobTimeoutException) to end

    def start_clock(self, clock: Clock) -> None:
        """The job starts now: its timeout runs from here.

        The child raises JobTimeoutException in the job at the timeout (its own
        clock started first); ``deadline`` is when the supervisor kills it.
        """
        self.began = clock.monotonic()
        timeout = self.record.timeout
        self.deadline = None if timeout < 0 else self.began + timeout + self.grace
        self.started_at = clock.now()


@dataclass(eq=False)
class Child:
    """One child process and the pipe to it."""

    process: BaseProcess
    conn: Connection
    gate: Gate  # settles whether a queued job starts or is taken back
    fence: Fence  # the moment its lease runs out, less the margin; why its watchdog killed it
    exit_fd: int  # readable once the process has exited (a pidfd; its sentinel elsewhere)
    jobs_done: int = 0
    running: HandedJob | None = None  # the job it runs
    # Sent, to start in this order when ``running`` ends.
    queued: deque[HandedJob] = field(default_factory=deque)
    sent: int = 0  # jobs sent so far (the last one's seq)
    frames: Frames = field(init=False)  # what it sent: outcomes, and its running job's requests

    def __post_init__(self) -> None:
        self.frames = Frames(self.conn)

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def describe_exit(self) -> str:
        code = self.process.exitcode
        if code is None:
            return "is still running"
        if self.fence.reason == Fence.LEASE:
            return "stopped itself: its lease was not renewed in time"
        if code < 0:
            return f"was killed by signal {-code}"
        return f"exited with code {code}"


class Pool:
    """At most ``size`` children; each runs one job at a time."""

    def __init__(
        self,
        size: int,
        settings: ChildSettings,
        before_fork: Callable[[], Any] | None,
        keep: list[Any],
    ) -> None:
        self.size = size
        self.settings = settings
        self.before_fork = before_fork
        self.children: list[Child] = []
        self._keep = keep  # the supervisor's own handles, closed in every child

    def keep(self, *handles: Any) -> None:
        """Have every child forked from now on close ``handles`` (each has a ``close()``)."""
        self._keep.extend(handles)

    def busy(self) -> list[Child]:
        return [child for child in self.children if child.running is not None]

    def free_slots(self) -> int:
        free = self.size
        for child in self.children:
            if child.running is not None:
                free -= 1
        return free

    def _spawn(self) -> Child:
        if self.before_fork is not None:
            self.before_fork()
        parent_end, child_end = _FORK.Pipe(duplex=True)
        inherited = [*self._keep, parent_end, *(c.conn for c in self.children)]
        inherited += [_ExitFd(c) for c in self.children]
        gate, fence = Gate(_FORK), Fence(_FORK)
        process = _FORK.Process(
            target=child_main,
            args=(child_end, self.settings, gate, inherited, fence),
            name="conveyor-child",
            daemon=False,
        )
        process.start()
        child_end.close()
        pid = process.pid
        assert pid is not None
        with contextlib.suppress(OSError):  # the child does it too: whichever comes first
            os.setpgid(pid, pid)
        child = Child(
            process=process, conn=parent_end, gate=gate, fence=fence, exit_fd=_exit_fd(process)
        )
        self.children.append(child)
        return child

    def idle_child(self) -> Child:
        """A live child with nothing to do, started if need be."""
        for child in self.children:
            if child.running is None and child.process.is_alive():
                return child
        return self._spawn()

    def start(self, child: Child, handed: HandedJob, stop_by: float, clock: Clock) -> None:
        """Hand a claimed job to an idle ``child``: it runs now, stopping by ``stop_by``."""
        child.fence.stop_by = stop_by
        self._send(child, handed)
        handed.start_clock(clock)
        child.running = handed

    def queue(self, child: Child, handed: HandedJob) -> None:
        """Send a busy ``child`` a job to run after those it has already."""
        self._send(child, handed)
        child.queued.append(handed)

    def take_back(self, child: Child) -> list[HandedJob]:
        """Take back the jobs queued in ``child``'s pipe that it has not started.

        Returns the jobs taken back: the child will never run them. Those it
        has started stay queued, and report like any other.
        """
        queued = child.queued
        if not queued:
            return []
        started = child.gate.take_back(queued[-1].seq)
        taken: list[HandedJob] = []
        while queued and queued[-1].seq > started:
            taken.append(queued.pop())
        taken.reverse()
        return taken

    @staticmethod
    def forget_queued(child: Child) -> list[HandedJob]:
        """The jobs queued behind a dead ``child``'s running one."""
        queued = list(child.queued)
        child.queued.clear()
        return queued

    def _send(self, child: Child, handed: HandedJob) -> None:
        record = handed.record
        child.sent += 1
        handed.seq = child.sent
        handed.grace = self.settings.timeout_grace
        message = JobMessage(
            handed.seq, record.id, record.func, record.payload, record.attempts, record.timeout
        )
        send(child.conn, message)

    def retire_if_spent(self, child: Child) -> None:
        """Let a child that reached its job limit go (it exits by itself)."""
        limit = self.settings.max_jobs
        if limit and child.jobs_done >= limit:
            self.remove(child, wait=1.0)

    def remove(self, child: Child, wait: float = 0.0) -> None:
        """Forget ``child`` and its process group, killing it unless it exits within ``wait``."""
        if wait > 0:
            exited(child, wait)
        self.kill(child)

    def kill(self, child: Child) -> None:
        """Stop ``child`` and its whole process group at once (SIGKILL) and forget it.

        Once SIGKILLed the child's own process is gone in an instant: waiting
        for it (``waitpid``, not its sentinel, a pipe a grandchild may hold)
        never blocks for long.
        """
        pid = child.pid
        if pid is not None:
            # Once reaped, its pid is free for reuse: then only its group, which
            # Linux keeps (and never hands out as a pid) while any member lives.
            kill_group(pid, reaped=child.process.exitcode is not None)
            if child.process.exitcode is None:
                child.process.join()  # waitpid: the process is SIGKILLed
        self._forget(child)

    def _forget(self, child: Child) -> None:
        child.conn.close()
        if child.exit_fd != child.process.sentinel:
            with contextlib.suppress(OSError):
                os.close(child.exit_fd)
        child.exit_fd = -1
        if child.process.exitcode is not None:
            child.process.close()
        if child in self.children:
            self.children.remove(child)

    def stop_idle(self, wait: float) -> None:
        """Ask every idle child to exit, and wait for them."""
        deadline = time.monotonic() + wait
        idle = [child for child in self.children if child.running is None]
        for child in idle:
            with contextlib.suppress(OSError):
                send(child.conn, None)
        for child in idle:
            self.remove(child, wait=max(deadline - time.monotonic(), 0.0))


def kill_group(pid: int, reaped: bool = False) -> None:
    """SIGKILL the process group led by ``pid`` (a child and whatever it forked), and ``pid``."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    if not reaped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # not yet in its own group


def exited(child: Child, wait: float) -> bool:
    """Whether ``child``'s process has exited, waiting up to ``wait`` seconds for it."""
    if child.process.exitcode is not None:
        return True
    poller = select.poll()
    poller.register(child.exit_fd, select.POLLIN)
    if poller.poll(wait * 1000):
        return child.process.exitcode is not None
    return False


def _exit_fd(process: BaseProcess) -> int:
    """A descriptor that turns readable when ``process`` exits, held by nobody else.

    A pidfd where Linux has them: multiprocessing's sentinel is a pipe, and a
    job that forks leaves a copy of it in the grandchild, so it would only
    signal the end of the last process holding it.
    """
    pid = process.pid
    assert pid is not None
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is not None:
        with contextlib.suppress(OSError):
            fd: int = pidfd_open(pid)
            return fd
    return process.sentinel


class FdCloser:
    """Lets a child close one of the supervisor's raw file descriptors."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        os.close(self.fd)


class _ExitFd:
    """Lets a new child close its siblings' pidfds."""

    def __init__(self, child: Child) -> None:
        self.fd = child.exit_fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
