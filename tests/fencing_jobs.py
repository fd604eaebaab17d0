"""Jobs for the fencing tests: they fork, hold exclusive locks and outlive their leases."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from conveyor import JobTimeoutException


def _append(path: str, line: str) -> None:
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(line + "\n")
        out.flush()
        os.fsync(out.fileno())


def exclusive_run(lock: str, log: str, seconds: float) -> int:
    """Hold an exclusive lock on ``lock`` for ``seconds``; a run that cannot take it logs overlap.

    Each run logs "start PID", then "end PID" if it ran to the end. The lock is
    the process's: it goes when the process dies, whoever kills it.
    """
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        _append(log, f"overlap {os.getpid()}")
        os.close(fd)
        raise RuntimeError("another run of this job holds its lock") from None
    _append(log, f"start {os.getpid()}")
    time.sleep(seconds)
    _append(log, f"end {os.getpid()}")
    os.close(fd)
    return os.getpid()


def _grandchild(log: str) -> None:
    """The forked copy of a job: note its pid, then sleep long, holding every inherited fd."""
    try:
        _append(log, f"grandchild {os.getpid()}")
        time.sleep(120)
    finally:
        os._exit(0)


def fork_then_die(log: str) -> None:
    """Fork (no exec), then the job's own process dies at once; the grandchild lives on."""
    pid = os.fork()
    if pid == 0:
        _grandchild(log)
    _append(log, f"job {os.getpid()} forked {pid}")
    os._exit(9)


def fork_then_sleep(log: str, seconds: float) -> None:
    """Fork (no exec), then sleep past the job's timeout; the grandchild sleeps longer."""
    pid = os.fork()
    if pid == 0:
        _grandchild(log)
    _append(log, f"job {os.getpid()} forked {pid}")
    time.sleep(seconds)


def beat(log: str, seconds: float) -> None:
    """Log a beat every 0.1 s for ``seconds``: when the log stops growing, the job stopped.

    It shrugs off its JobTimeoutException: only a kill stops it early.
    """
    deadline = time.monotonic() + seconds
    _append(log, f"start {os.getpid()}")
    while time.monotonic() < deadline:
        _append(log, f"beat {time.monotonic()}")
        try:
            time.sleep(0.1)
        except JobTimeoutException:
            _append(log, "timeout exception ignored")
    _append(log, "end")
