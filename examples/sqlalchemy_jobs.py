"""Jobs that use a database through SQLAlchemy, safely under conveyor's forking worker.

A worker runs jobs in child processes forked from its supervisor process. A
database connection must never be used by two processes: after a fork,
parent and child hold the same socket (for SQLite, the same file handle and
locks), and their conversations with the database get mixed up. CKAN's
workers hit exactly this: jobs failing on their second run with "SSL error:
decryption failed or bad record mac" (ckan/ckan#3243), intermittent failures
when garbage collection in a child closed connections the parent still used
(ckan/ckan#3365), and extensions' own engines breaking the same way
(ckan/ckan#3606).

The rule: every process uses an engine it created itself.

- ``init_engine`` is the worker's start-up hook (``conveyor.worker.init``,
  or ``Worker(init=...)``). It runs in each child process as the child
  starts, and gives the child its own engine.
- ``dispose_engine`` is the before-fork hook (``conveyor.worker.before_fork``,
  or ``Worker(before_fork=...)``). It runs in the supervisor before every
  fork and closes the pooled connections of an engine the supervisor process
  holds (one your application created at import time, say), so that no open
  connection is copied into a child.

In the config file::

    [conveyor]
    conveyor.worker.init = sqlalchemy_jobs:init_engine
    conveyor.worker.before_fork = sqlalchemy_jobs:dispose_engine

Try it from this directory (``pip install sqlalchemy`` first)::

    python sqlalchemy_jobs.py                  # creates the table, enqueues 4 jobs
    CONVEYOR_WORKER_INIT=sqlalchemy_jobs:init_engine \\
    CONVEYOR_WORKER_BEFORE_FORK=sqlalchemy_jobs:dispose_engine \\
        conveyor jobs worker --burst --concurrency 2
    python sqlalchemy_jobs.py --show           # which process wrote each row
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.engine import Engine

import conveyor

DATABASE_URL = os.environ.get("EXAMPLE_DATABASE_URL", "sqlite:///example-app.sqlite3")

metadata = MetaData()
visits = Table(
    "visits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("pid", Integer, nullable=False),  # the process that ran the job
    Column("connection_pid", Integer, nullable=False),  # the process that opened its connection
)

_engine: Engine | None = None
_engine_pid: int | None = None


def _stamp_connection(dbapi_connection: Any, connection_record: Any) -> None:
    """Remember which process opened each database connection."""
    del dbapi_connection
    connection_record.info["pid"] = os.getpid()


def init_engine() -> None:
    """Give this process an engine of its own (the worker's start-up hook)."""
    global _engine, _engine_pid  # noqa: PLW0603 -- one engine per process, by design
    _engine = create_engine(DATABASE_URL)
    _engine_pid = os.getpid()
    event.listen(_engine, "connect", _stamp_connection)


def dispose_engine() -> None:
    """Close the pooled connections of this process's engine (the before-fork hook)."""
    if _engine is not None:
        _engine.dispose()


def engine() -> Engine:
    """This process's engine; created on first use outside a worker (a web app, a test)."""
    if _engine is None:
        init_engine()
    assert _engine is not None
    return _engine


def create_tables() -> None:
    metadata.create_all(engine())


def record_visit(name: str) -> dict[str, int | None]:
    """A job: insert a row, and say which processes ran it, made its engine and its connection."""
    with engine().begin() as connection:
        connection_pid = connection.info["pid"]
        connection.execute(
            insert(visits).values(name=name, pid=os.getpid(), connection_pid=connection_pid)
        )
    return {"pid": os.getpid(), "engine_pid": _engine_pid, "connection_pid": connection_pid}


def connection_origin() -> dict[str, int | None]:
    """A job that only borrows a connection and says which process opened it."""
    with engine().connect() as connection:
        return {"pid": os.getpid(), "connection_pid": connection.info["pid"]}


def _main(argv: list[str]) -> None:
    # Jobs must be importable by name: enqueue the module's functions, not __main__'s copies.
    module = importlib.import_module("sqlalchemy_jobs")
    module.create_tables()
    if "--show" in argv:
        with module.engine().connect() as connection:
            for row in connection.execute(select(visits).order_by(visits.c.id)):
                print(f"{row.name}: ran in {row.pid}, connection of {row.connection_pid}")
        return
    for number in range(1, 5):
        job = conveyor.enqueue(module.record_visit, [f"visit {number}"])
        print(f"Enqueued {job.id}")


if __name__ == "__main__":
    _main(sys.argv[1:])
