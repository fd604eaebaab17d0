"""The job of the chaos run: note that it ran, in a file per process.

While it runs, a job holds an exclusive lock of its own (``flock`` on a file
named by its number): a run that finds the lock taken is another run of the
same job at the same time, and is noted as an overlap. Some jobs fork a
grandchild (no exec) that outlives the job's own process for a while.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path


def record(number: int, directory: str, seconds: float = 0.0, fork: bool = False) -> None:
    """Take ``seconds`` holding this job's lock, then append its number to the process's log."""
    where = Path(directory)
    fd = os.open(where / "locks" / f"{number}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            with (where / f"overlaps-{os.getpid()}.log").open("a", encoding="ascii") as log:
                log.write(f"{number}\n")
        if fork and os.fork() == 0:  # the grandchild: holds the child's pipes a while
            try:
                os.close(fd)  # not the job's lock: it measures the job's own process
                time.sleep(5.0)
            finally:
                os._exit(0)
        if seconds:
            time.sleep(seconds)
        with (where / f"{os.getpid()}.log").open("a", encoding="ascii") as log:
            log.write(f"{number}\n")
    finally:
        os.close(fd)
