"""The PostgreSQL backend's periodic-job entries (table ``conveyor_periodic``, migration 0003).

Functions over the backend's connection. Taking a tick and storing its job
run in one transaction block, so both are committed or neither is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import DictRow

from conveyor.backends.base import NewJob
from conveyor.backends.periodic import PeriodicDeclaration, PeriodicEntry
from conveyor.backends.postgresql.queries import query, store

Connection = psycopg.Connection[DictRow]


def declare(conn: Connection, declarations: Sequence[PeriodicDeclaration], now: float) -> None:
    conn.execute(
        query("periodic_declare"),
        {
            "now": float(now),
            "names": [d.name for d in declarations],
            "schedules": [d.schedule for d in declarations],
            "timezones": [d.timezone for d in declarations],
            "funcs": [d.func for d in declarations],
            "queues": [d.queue for d in declarations],
            "baselines": [float(d.baseline) for d in declarations],
        },
    )


def take(conn: Connection, name: str, tick: float, job: NewJob | None, now: float) -> bool:
    """The compare-and-set, and the job's insert, in one transaction block."""
    params: dict[str, Any] = {
        "name": name,
        "tick": float(tick),
        "job_id": job.id if job else None,
        "now": float(now),
    }
    with conn.transaction(), conn.cursor() as cur:
        if cur.execute(query("periodic_take"), params).fetchone() is None:
            return False
        if job is not None:
            # On a duplicate id, store() rolls back to the savepoint to name the id; then
            # its error ends the block, which rolls the tick back too.
            cur.execute(query("savepoint"))
            store(cur, [job], now, undo=lambda: cur.execute(query("savepoint_rollback")))
    return True


def entries(conn: Connection, prefix: str) -> list[PeriodicEntry]:
    rows = conn.execute(query("periodic_entries"), {"prefix": prefix}).fetchall()
    return [PeriodicEntry.from_row(row) for row in rows]


def set_enabled(conn: Connection, name: str, enabled: bool) -> PeriodicEntry | None:
    row = conn.execute(query("periodic_enable"), {"name": name, "enabled": enabled}).fetchone()
    return None if row is None else PeriodicEntry.from_row(row)


def forget(conn: Connection, name: str) -> bool:
    return conn.execute(query("periodic_forget"), {"name": name}).fetchone() is not None
