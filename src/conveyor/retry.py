"""Retry policies: when a job that raised is tried again.

Without a policy a job that raises fails once, as in the reference. With
``retry=Retry(max=3, interval=[10, 30, 60])`` (RQ's spelling) it is retried up
to three more times, after 10, 30 and 60 seconds; with
``Retry(max=5, interval=1, backoff=2, max_interval=60, jitter=0.2)`` the delay
doubles each time (1, 2, 4 ... capped at 60 s) and is shortened by up to 20 %
at random, so that many jobs failing together do not retry in lockstep.

A policy is stored in the job record as plain data, so the worker that runs
the job decides the delay without importing anything of the producer's.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conveyor import limits
from conveyor.exceptions import InvalidJobError


def _seconds(value: Any, what: str) -> float:
    return limits.check_seconds(what, value)


@dataclass(frozen=True)
class Retry:
    """Retry a job that raised, up to ``max`` more times.

    ``interval`` is one delay in seconds, or a list of delays for the first,
    second ... retry (the last one repeats). With one delay, ``backoff``
    multiplies it at every retry, up to ``max_interval``; ``jitter`` (0 to 1)
    shortens each delay by up to that fraction, at random.
    """

    max: int
    interval: float | Sequence[float] = 0.0
    backoff: float = 1.0
    max_interval: float = 3600.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        limits.check_count("Retry max", self.max, 0, limits.MAX_RETRIES)
        if isinstance(self.interval, (list, tuple)):
            if not 1 <= len(self.interval) <= limits.MAX_INTERVALS:
                raise InvalidJobError(
                    f"Retry interval list must have 1 to {limits.MAX_INTERVALS} delays,"
                    f" not {len(self.interval)}"
                )
            delays = tuple(_seconds(v, "Retry interval") for v in self.interval)
            object.__setattr__(self, "interval", delays)
        else:
            object.__setattr__(self, "interval", _seconds(self.interval, "Retry interval"))
        if isinstance(self.backoff, bool) or not isinstance(self.backoff, (int, float)):
            raise InvalidJobError(f"Retry backoff must be a number, not {self.backoff!r}")
        if not 1 <= self.backoff <= limits.MAX_BACKOFF:
            raise InvalidJobError(
                f"Retry backoff must be between 1 and {limits.MAX_BACKOFF}, not {self.backoff!r}"
            )
        _seconds(self.max_interval, "Retry max_interval")
        if not 0 <= _seconds(self.jitter, "Retry jitter") <= 1:
            raise InvalidJobError(f"Retry jitter must be between 0 and 1, not {self.jitter!r}")

    def delay(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry ``retry_number`` (1 for the first retry)."""
        interval = self.interval
        base: float
        if isinstance(interval, (int, float)):
            try:
                grown = interval * float(self.backoff) ** (retry_number - 1)
            except OverflowError:  # far past any cap (retry 1025 with backoff 2)
                grown = math.inf if interval else 0.0
            base = float(min(grown, self.max_interval))
        else:
            base = float(interval[min(retry_number, len(interval)) - 1])
        if self.jitter:
            base *= 1 - self.jitter * (rng or random).random()
        return base

    def to_dict(self) -> dict[str, Any]:
        interval = list(self.interval) if isinstance(self.interval, tuple) else self.interval
        return {
            "max": self.max,
            "interval": interval,
            "backoff": self.backoff,
            "max_interval": self.max_interval,
            "jitter": self.jitter,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Retry:
        return cls(
            max=int(data["max"]),
            interval=data.get("interval", 0.0),
            backoff=float(data.get("backoff", 1.0)),
            max_interval=float(data.get("max_interval", 3600.0)),
            jitter=float(data.get("jitter", 0.0)),
        )


def coerce(value: Any) -> Retry | None:
    """A Retry from what enqueue() accepts: a Retry, an int (max), a dict, or None."""
    if value is None or isinstance(value, Retry):
        return value
    if isinstance(value, bool):
        raise InvalidJobError(
            f"retry must be a Retry, a number of retries or a dict, not {value!r}"
        )
    if isinstance(value, int):
        return Retry(max=value)
    if isinstance(value, Mapping):
        unknown = set(value) - {"max", "interval", "backoff", "max_interval", "jitter"}
        if unknown or "max" not in value:
            raise InvalidJobError(
                f"A retry dict needs 'max' and may have interval, backoff, max_interval,"
                f" jitter; got {sorted(value)}"
            )
        return Retry(**value)
    raise InvalidJobError(
        f"retry must be a Retry, a number of retries or a dict, not {type(value).__name__}"
    )
