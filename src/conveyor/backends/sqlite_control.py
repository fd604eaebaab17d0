"""The SQLite backend's paused queues and worker commands (migration 0004).

Functions over a connection inside the backend's transaction; see
:mod:`conveyor.backends.control` for what they mean. Their SQL is in
``sqlite_queries.sql``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from conveyor.backends.control import COMMAND_TTL, STOP, WorkerControl
from conveyor.backends.sqlite_queries import query


def set_paused(
    db: sqlite3.Connection, queues: Sequence[str], paused: bool, now: float
) -> list[str]:
    changed = []
    for queue in dict.fromkeys(queues):
        if paused:
            cursor = db.execute(query("pause_queue"), (queue, now))
        else:
            cursor = db.execute(query("resume_queue"), (queue,))
        if cursor.rowcount == 1:
            changed.append(queue)
    return changed


def paused_queues(db: sqlite3.Connection, prefix: str) -> list[str]:
    rows = db.execute(query("paused_queues"), (len(prefix), prefix)).fetchall()
    return [row[0] for row in rows]


def command_worker(db: sqlite3.Connection, key: str, command: str, now: float) -> None:
    db.execute(query("expire_commands"), (now,))
    db.execute(
        query("command_worker"),
        (key, command, now + COMMAND_TTL, STOP),
    )


def worker_control(db: sqlite3.Connection, key: str, queues: Sequence[str]) -> WorkerControl:
    rows = db.execute(
        query("worker_control"),
        (json.dumps(list(queues)), key),
    ).fetchall()
    paused = frozenset(row[0] for row in rows if row[0] is not None)
    commands = [row[1] for row in rows if row[1] is not None]
    return WorkerControl(paused=paused, command=commands[0] if commands else None)


def forget_worker_command(db: sqlite3.Connection, key: str) -> None:
    db.execute(query("forget_worker_command"), (key,))
