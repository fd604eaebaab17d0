"""The application's own connection: enqueueing inside its transactions, creating the tables."""

from __future__ import annotations

import contextlib
import contextvars
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from conveyor.backends import migrations
from conveyor.backends.base import NewJob
from conveyor.backends.postgresql.queries import Cursor, query, quote, store, translated, where
from conveyor.exceptions import ConfigError


def enqueue_on(
    connection: psycopg.Connection[Any],
    jobs: Sequence[NewJob],
    *,
    now: float,
    schema: str | None = None,
) -> None:
    """Store jobs as queued through the application's ``connection``, inside its transaction.

    Nothing is committed here: workers see the jobs when the application
    commits its transaction (and are woken then), and never if it rolls
    back. On an autocommit connection outside a transaction block there is
    no such transaction, and the jobs are committed at once. A duplicate id
    raises DuplicateJobError and undoes only this call, so the application's
    transaction can go on. ``schema`` names the schema of conveyor's tables
    when it is not the connection's current one.
    """
    if not jobs:
        return
    idle = connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    # On an autocommit connection, a block of its own; otherwise the first
    # statement below begins the application's transaction if it had not
    # begun yet, and the jobs are part of it.
    block = (
        connection.transaction() if connection.autocommit and idle else contextlib.nullcontext()
    )
    with (
        translated(where(connection.info.get_parameters())),
        block,
        connection.cursor(row_factory=dict_row) as cur,
    ):
        cur.execute(query("savepoint"))
        try:
            _store_in(cur, jobs, now, schema)
        except BaseException:
            if not (connection.closed or connection.broken):
                # Undoes this call only (the search path too); the application goes on.
                cur.execute(query("savepoint_rollback"))
                cur.execute(query("savepoint_release"))
            raise
        cur.execute(query("savepoint_release"))


def enqueue_in(
    connection: psycopg.Connection[Any],
    jobs: Sequence[NewJob],
    *,
    now: float,
    schema: str | None = None,
) -> None:
    """Deprecated name of :func:`enqueue_on` (release 0.1), kept so callers keep working.

    It was renamed because RQ's ``enqueue_in`` means "run later", which
    ``conveyor.enqueue_in`` now does; this one stores jobs through a connection.
    """
    warnings.warn(
        "conveyor.backends.postgresql.enqueue_in(connection, jobs) is deprecated:"
        " call enqueue_on(connection, jobs), the same function under its new name",
        DeprecationWarning,
        stacklevel=2,
    )
    enqueue_on(connection, jobs, now=now, schema=schema)


def _store_in(cur: Cursor, jobs: Sequence[NewJob], now: float, schema: str | None) -> None:
    """store(), with the search path pointed at ``schema`` for the while."""
    if schema is None:
        store(cur, jobs, now, undo=lambda: cur.execute(query("savepoint_rollback")))
        return
    path = {"search_path": quote(schema)}
    previous = cur.execute(query("search_path_set"), path).fetchone()
    assert previous is not None

    def undo() -> None:
        cur.execute(query("savepoint_rollback"))  # which resets the search path
        cur.execute(query("search_path_set"), path)

    store(cur, jobs, now, undo)
    cur.execute(query("search_path_restore"), {"search_path": previous["previous"]})


_CONNECTION: contextvars.ContextVar[psycopg.Connection[Any] | None] = contextvars.ContextVar(
    "conveyor_postgresql_connection", default=None
)


def current_connection() -> psycopg.Connection[Any] | None:
    """The application's connection that :func:`in_transaction` set here, if any."""
    return _CONNECTION.get()


@contextlib.contextmanager
def in_transaction(connection: psycopg.Connection[Any]) -> Iterator[None]:
    """Within this block, enqueued jobs go into ``connection``'s transaction.

    ::

        with conn.transaction(), in_transaction(conn):
            conn.execute("INSERT INTO orders ...")
            conveyor.enqueue(send_confirmation, [order_id])

    The job is stored (and its workers woken) when the application commits,
    and vanishes if it rolls back. It applies to the current thread (or
    asyncio task) only, and to a PostgreSQL backend only; ``connection``
    must be a psycopg 3 connection to the database the backend URL names.
    """
    reset = _CONNECTION.set(connection)
    try:
        yield
    finally:
        _CONNECTION.reset(reset)


def create_tables(connection: psycopg.Connection[Any]) -> None:
    """Create conveyor's tables in the connection's current schema, or bring them up to date.

    For applications whose own migrations set up the database; a backend
    does the same when it opens one. Idempotent, and safe to run from
    several processes at once. Commits only if it began the transaction.
    Tables written by a newer conveyor raise StoreVersionError.
    """
    server = where(connection.info.get_parameters())
    with (
        translated(server),
        connection.transaction(),
        connection.cursor(row_factory=dict_row) as cur,
    ):
        row = cur.execute(query("installed")).fetchone()
        if row is None or row["schema"] is None:
            raise ConfigError(
                "The PostgreSQL connection has no current schema to create conveyor's tables"
                " in: check its search_path"
            )
        cur.execute(query("schema_lock"), {"schema": row["schema"]})
        migrate(cur, f"in PostgreSQL at {server}, schema {row['schema']}")


def applied(cur: Cursor) -> int:
    """The number of the last migration applied in the current schema (0: none)."""
    row = cur.execute(query("installed")).fetchone()
    if row is None or not row["installed"]:
        return 0
    found = cur.execute(query("schema_version")).fetchone()
    return int(found["version"] or 0) if found else 0


def migrate(cur: Cursor, store: str) -> None:
    """Apply the migrations the current schema lacks, in the caller's transaction.

    The caller holds the schema's advisory lock (``schema_lock.sql``), so
    concurrent openers apply each migration once: the second finds it done.
    ``store`` names the tables in the error raised when they are newer
    than this code.
    """
    for step in migrations.pending("postgresql", applied(cur), store):
        cur.execute(step.sql.encode())  # no parameters: the file may hold many statements
        cur.execute(query("record_migration"), {"version": step.version})
