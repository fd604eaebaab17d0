"""The job of the chaos run: note that it ran, in a file per process."""

from __future__ import annotations

import os
import time
from pathlib import Path


def record(number: int, directory: str, seconds: float = 0.0) -> None:
    """Take ``seconds``, then append this job's number to the running process's log."""
    if seconds:
        time.sleep(seconds)
    with (Path(directory) / f"{os.getpid()}.log").open("a", encoding="ascii") as log:
        log.write(f"{number}\n")
