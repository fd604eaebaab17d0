"""The job of the chaos run: note that it ran, in a file per process."""

from __future__ import annotations

import os
from pathlib import Path


def record(number: int, directory: str) -> None:
    """Append this job's number to the running process's log."""
    with (Path(directory) / f"{os.getpid()}.log").open("a", encoding="ascii") as log:
        log.write(f"{number}\n")
