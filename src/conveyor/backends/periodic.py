"""What a store keeps about periodic jobs, and the operations on it.

Periodic jobs are declared in code or in the config file; a store keeps one
entry per job (its full, site-prefixed name) with what the workers last
declared about it, whether it is enabled, and the latest tick that was
taken. Taking a tick is one atomic compare-and-set in the store, done in the
same step as enqueueing the tick's job: however many workers evaluate the
same schedule, each tick is taken, and its job stored, exactly once.

Ticks are instants in seconds since the epoch; every worker computes the
same ones from the schedule, which is what makes them a shared key.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # base imports this module, for Backend to inherit PeriodicStore
    from conveyor.backends.base import NewJob, Row


@dataclass(frozen=True)
class PeriodicDeclaration:
    """A periodic job as a worker (or the CLI) declares it to the store.

    ``baseline`` is the tick recorded as the last one taken when the store
    has no entry of this name yet, so a new job waits for its next tick
    instead of running at once for a tick from before it existed.
    """

    name: str  # full name: the site's queue prefix, then the job's name
    schedule: str  # "cron <expression>" or "every <seconds>"
    timezone: str  # IANA name; "UTC" for intervals
    func: str
    queue: str  # full queue name
    baseline: float


@dataclass(frozen=True)
class PeriodicEntry:
    """A store's entry for one periodic job."""

    name: str
    schedule: str
    timezone: str
    func: str
    queue: str
    enabled: bool
    last_tick: float | None  # the latest tick taken (run or skipped)
    last_job_id: str | None  # the job enqueued for the latest tick that ran
    last_enqueued_at: float | None  # when that job was enqueued
    declared_at: float  # when a worker or the CLI last declared it

    @classmethod
    def from_row(cls, row: Row) -> PeriodicEntry:
        """The entry in a row of the SQL stores' ``conveyor_periodic`` table."""
        return cls(
            name=row["name"],
            schedule=row["schedule"],
            timezone=row["timezone"],
            func=row["func"],
            queue=row["queue"],
            enabled=bool(row["enabled"]),
            last_tick=row["last_tick"],
            last_job_id=row["last_job_id"],
            last_enqueued_at=row["last_enqueued_at"],
            declared_at=row["declared_at"],
        )


class PeriodicStore(ABC):
    """The periodic-job part of the backend interface (``Backend`` inherits it)."""

    @abstractmethod
    def declare_periodic(self, declarations: Sequence[PeriodicDeclaration], *, now: float) -> None:
        """Create or update entries; an existing entry keeps its state.

        A new entry is enabled, with ``last_tick`` at its ``baseline``. An
        existing one gets the declared schedule, time zone, function and
        queue; its ``enabled``, ``last_tick`` and last job are left alone.
        """

    @abstractmethod
    def claim_tick(self, name: str, tick: float, job: NewJob | None, *, now: float) -> bool:
        """Take ``tick`` of periodic job ``name`` and enqueue ``job`` for it, atomically.

        Taken only if the entry exists, is enabled, and its ``last_tick`` is
        before ``tick``: then ``last_tick`` becomes ``tick`` and ``job`` (if
        given; None records a skipped tick) is stored as queued, in the same
        atomic step, and True is returned. Otherwise nothing changes and the
        answer is False. A ``job`` whose id is stored already raises
        DuplicateJobError, and the tick is not taken.
        """

    @abstractmethod
    def periodic_entries(self, prefix: str) -> list[PeriodicEntry]:
        """The entries whose name starts with ``prefix``, sorted by name."""

    @abstractmethod
    def set_periodic_enabled(self, name: str, enabled: bool) -> PeriodicEntry | None:
        """Enable or disable an entry; the entry as it is now, or None if there is none."""

    @abstractmethod
    def forget_periodic(self, name: str) -> bool:
        """Delete an entry (its jobs stay); False if there was none."""
