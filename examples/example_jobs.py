"""Job functions for the demo: the reference's log_job, and a few more."""

from __future__ import annotations

import logging
import time


def log_job(msg: str, level: int = logging.INFO, logger: str = "conveyor") -> None:
    """Background job to log a message (the reference's example)."""
    logging.getLogger(logger).log(level, msg)


def add(a: int, b: int) -> int:
    """A job with a result, kept in the job's record."""
    return a + b


def slow_square(n: int, seconds: float = 0.2) -> int:
    """A job that takes a moment."""
    time.sleep(seconds)
    return n * n


def fail(reason: str) -> None:
    """A job that fails, so the demo shows a failed job's record."""
    raise ValueError(f"Demo failure: {reason}")
