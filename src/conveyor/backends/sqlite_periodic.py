"""The SQLite backend's periodic-job entries (table ``conveyor_periodic``, migration 0003).

Functions over a connection inside the backend's write transaction, so
taking a tick and enqueueing its job commit together or not at all. Their
SQL is the ``periodic_*`` queries of ``sqlite_queries.sql``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from conveyor.backends.periodic import PeriodicDeclaration, PeriodicEntry
from conveyor.backends.sqlite_queries import query


def declare(
    db: sqlite3.Connection, declarations: Sequence[PeriodicDeclaration], now: float
) -> None:
    db.executemany(
        query("periodic_declare"),
        [(d.name, d.schedule, d.timezone, d.func, d.queue, d.baseline, now) for d in declarations],
    )


def take(db: sqlite3.Connection, name: str, tick: float, job_id: str | None, now: float) -> bool:
    """The compare-and-set: move ``last_tick`` to ``tick`` if enabled and before it."""
    run = job_id is not None
    cursor = db.execute(
        query("periodic_take"),
        (tick, run, job_id, run, now, name, tick),
    )
    return cursor.rowcount == 1


def entries(db: sqlite3.Connection, prefix: str) -> list[PeriodicEntry]:
    rows = db.execute(query("periodic_entries"), (len(prefix), prefix)).fetchall()
    return [PeriodicEntry.from_row(row) for row in rows]


def get(db: sqlite3.Connection, name: str) -> PeriodicEntry | None:
    row = db.execute(query("periodic_get"), (name,)).fetchone()
    return None if row is None else PeriodicEntry.from_row(row)


def set_enabled(db: sqlite3.Connection, name: str, enabled: bool) -> bool:
    cursor = db.execute(query("periodic_enable"), (1 if enabled else 0, name))
    return cursor.rowcount == 1


def forget(db: sqlite3.Connection, name: str) -> bool:
    return db.execute(query("periodic_forget"), (name,)).rowcount == 1
