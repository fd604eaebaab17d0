"""The job the multi-host tests run: it holds an exclusive lock while it runs, and says where.

Every worker host sees the same filesystem (network namespaces share it), so a
``flock`` on a file of the job's own is one lock for all hosts: a second run of
the job that starts while the first still runs cannot take it, and records an
overlap. The lock belongs to the process: it goes when the process dies,
whoever kills it.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path


def _append(log: Path, line: str) -> None:
    with log.open("a", encoding="utf-8") as out:
        out.write(line + "\n")
        out.flush()
        os.fsync(out.fileno())


def exclusive_run(runs: str, name: str, seconds: float) -> str:
    """Run for ``seconds`` (or until ``RUNS/NAME.release`` exists) holding the lock
    ``RUNS/NAME.lock``; log to ``RUNS/NAME.log``.

    The log gets ``start HOST PID`` and, if the run reaches its end, ``end HOST
    PID``; a run that finds the lock taken logs ``overlap HOST PID`` and raises.
    HOST is the worker host's name (``MULTIHOST_HOST`` in the worker's
    environment).
    """
    host = os.environ.get("MULTIHOST_HOST", "?")
    log = Path(runs) / f"{name}.log"
    fd = os.open(Path(runs) / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _append(log, f"overlap {host} {os.getpid()}")
            raise RuntimeError(f"another run of job {name} holds its lock") from None
        _append(log, f"start {host} {os.getpid()}")
        release = Path(runs) / f"{name}.release"
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not release.exists():
            time.sleep(0.02)
        _append(log, f"end {host} {os.getpid()}")
        return host
    finally:
        os.close(fd)
