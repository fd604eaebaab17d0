"""Schedules: when a periodic job's ticks fall.

A tick is an instant in whole seconds since the epoch. Every process
computes the same ticks from the same schedule, with no shared clock state,
so a tick can serve as the key that the store takes once.

- ``Every(n)``: every ``n`` seconds, counted from the epoch (an hourly job
  ticks on the hour, in UTC), whatever time a worker started.
- ``Cron(expression, timezone)``: a cron expression (five fields, or six with
  seconds first) read in an IANA time zone, evaluated by ``cronsim``; across
  daylight-saving changes it behaves as Debian's cron does.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from conveyor.exceptions import PeriodicJobError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")


class Schedule(ABC):
    """When ticks fall; stored as ``text`` with ``timezone``."""

    timezone: str

    @property
    @abstractmethod
    def text(self) -> str:
        """The stored form: ``cron <expression>`` or ``every <seconds>``."""

    @abstractmethod
    def latest(self, now: float) -> float:
        """The latest tick at or before ``now``."""

    @abstractmethod
    def next_after(self, tick: float) -> float:
        """The first tick strictly after ``tick``."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and (self.text, self.timezone) == (
            other.text,
            other.timezone,
        )

    def __hash__(self) -> int:
        return hash((self.text, self.timezone))

    def __repr__(self) -> str:
        return f"<Schedule {self.text!r} {self.timezone}>"


class Every(Schedule):
    """A tick every ``seconds`` seconds, at the multiples of ``seconds`` since the epoch."""

    timezone = "UTC"

    def __init__(self, seconds: int) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
            raise PeriodicJobError(
                f"An interval must be a whole number of seconds, at least 1, not {seconds!r}"
            )
        self.seconds = seconds

    @property
    def text(self) -> str:
        return f"every {self.seconds}"

    def latest(self, now: float) -> float:
        return float(math.floor(now / self.seconds) * self.seconds)

    def next_after(self, tick: float) -> float:
        return self.latest(tick) + self.seconds


class Cron(Schedule):
    """The ticks of a cron expression in a time zone."""

    def __init__(self, expression: str, tz: str = "UTC") -> None:
        if not isinstance(expression, str) or not expression.strip():
            raise PeriodicJobError(f"A cron expression must be a non-empty string: {expression!r}")
        self.expression = " ".join(expression.split())
        self.timezone = tz
        self.zone = zone(tz)
        try:
            first = CronSim(self.expression, datetime.now(self.zone))
            next(first)
        except CronSimError as exc:
            raise PeriodicJobError(f"Invalid cron expression {expression!r}: {exc}") from None
        except StopIteration:
            raise PeriodicJobError(f"The cron expression {expression!r} never matches") from None

    @property
    def text(self) -> str:
        return f"cron {self.expression}"

    def _at(self, seconds: float) -> datetime:
        return datetime.fromtimestamp(seconds, timezone.utc).astimezone(self.zone)

    def latest(self, now: float) -> float:
        # cronsim steps strictly before its start: start a second past now.
        start = self._at(math.floor(now) + 1)
        return next(CronSim(self.expression, start, reverse=True)).timestamp()

    def next_after(self, tick: float) -> float:
        return next(CronSim(self.expression, self._at(math.floor(tick)))).timestamp()


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``, or PeriodicJobError."""
    if not isinstance(name, str) or not name:
        raise PeriodicJobError(
            f"A time zone must be an IANA name such as 'Europe/Paris': {name!r}"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodicJobError(f"Unknown time zone {name!r}") from None


def interval_seconds(value: object) -> int:
    """Whole seconds: an int, a ``timedelta``, or text (``90``, ``5m``, ``1h``, ``2d``)."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        if seconds != int(seconds):
            raise PeriodicJobError(f"An interval must be whole seconds, not {value}")
        return int(seconds)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return int(match[1]) * _UNITS[match[2] or "s"]
    raise PeriodicJobError(
        f"An interval must be seconds, a timedelta or text such as '90s', '30m', '1h', '2d',"
        f" not {value!r}"
    )


def parse(text: str, tz: str) -> Schedule:
    """The schedule whose stored form is ``text`` (see :attr:`Schedule.text`)."""
    kind, _, rest = text.partition(" ")
    if kind == "every":
        return Every(interval_seconds(rest))
    if kind == "cron":
        return Cron(rest, tz)
    raise PeriodicJobError(f"Unknown schedule {text!r}")
