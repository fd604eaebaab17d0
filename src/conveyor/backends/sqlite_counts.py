"""The SQLite store's kept counts and statistics on its hot paths (migration 0005).

Migration 0005's triggers keep ``conveyor_counts`` and ``conveyor_stats`` for
every change of a job, except the two a worker makes for every job:
queued -> started (claim) and started -> finished (complete). Those are
counted here, one statement per queue (and minute) of a batch, instead of one
or two per job: the triggers cost a worker's claim and complete about 8 us a
job. No other code makes those two moves, so the counts stay exact; the
conformance suite and tests/backends/test_counts.py check it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from conveyor.backends.base import minute_of
from conveyor.backends.sqlite_queries import query


def count_moved(db: sqlite3.Connection, source: str, target: str, queues: Iterable[str]) -> None:
    """Count jobs moved from state ``source`` to ``target``, one entry per job's queue."""
    moved: dict[str, int] = {}
    for queue in queues:
        moved[queue] = moved.get(queue, 0) + 1
    db.executemany(
        query("count_moved"),
        [(queue, source, -n) for queue, n in moved.items()]
        + [(queue, target, n) for queue, n in moved.items()],
    )


class Finished:
    """The jobs a batch of completions finished: counted, and in the minute's statistics."""

    def __init__(self) -> None:
        self.queues: list[str] = []
        self.minutes: dict[tuple[str, int], list[float]] = {}

    def add(self, queue: str, now: float, enqueued_at: float, started_at: float | None) -> None:
        self.queues.append(queue)
        entry = self.minutes.setdefault((queue, minute_of(now)), [0, 0.0, 0, 0.0, 0])
        entry[0] += 1
        if started_at is not None:
            entry[1] += max(started_at - enqueued_at, 0.0)
            entry[2] += 1
            entry[3] += max(now - started_at, 0.0)
            entry[4] += 1

    def write(self, db: sqlite3.Connection) -> None:
        if not self.queues:
            return
        count_moved(db, "started", "finished", self.queues)
        db.executemany(
            query("stats_finished"), [(q, m, *values) for (q, m), values in self.minutes.items()]
        )
