"""Importable job functions for the tests (a worker must be able to import them)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def succeed(*args: object, **kwargs: object) -> None:
    """Do nothing."""


def echo(value: object) -> object:
    """Return the argument, so the result can be checked."""
    return value


def add(a: int, b: int) -> int:
    return a + b


def failing_job() -> None:
    raise RuntimeError("JOB FAILURE")


def sleep_for(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def touch(path: str, text: str = "") -> None:
    """Append a line to a file: lets a test see that (and how often) a job ran."""
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write(f"{text or os.getpid()}\n")


def touch_then_sleep(path: str, seconds: float) -> None:
    """Mark the job as started, then take a while."""
    touch(path, "started")
    time.sleep(seconds)
    touch(path, "done")


def kill_self() -> None:
    """Die as a crash would (SIGKILL)."""
    os.kill(os.getpid(), signal.SIGKILL)


def exit_interpreter(code: int = 3) -> None:
    sys.exit(code)


def hard_exit(code: int = 7) -> None:
    """Leave the process without any Python cleanup."""
    os._exit(code)


def return_unserializable() -> object:
    return {1, 2, 3}


def pid() -> int:
    return os.getpid()


class Maker:
    @classmethod
    def build(cls, value: int) -> int:
        return value * 2

    def method(self) -> None:
        """A bound method of an instance cannot be a job."""
