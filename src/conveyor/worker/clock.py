"""The worker's clock: wall time for what the store records, monotonic time for its timers.

The loop reads time only through a :class:`Clock`, so a test can step it.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """What the worker's loop asks of a clock."""

    def now(self) -> float:
        """Seconds since the epoch (lease expiries, records' times)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (timers, deadlines, fences)."""
        ...


class SystemClock:
    """The real clock: :func:`time.time` and :func:`time.monotonic` themselves."""

    # The functions themselves, not methods calling them: the loop reads the
    # clock several times a job.
    now = staticmethod(time.time)
    monotonic = staticmethod(time.monotonic)
