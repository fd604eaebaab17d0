"""PostgreSQL: for applications that already run it.

Jobs live in tables prefixed ``conveyor_`` in one schema of the
application's database (the connection's current schema, or the one named by
``?schema=NAME``), created or upgraded on open by the numbered migrations in
``migrations/postgresql/``. The SQL lives in one file, ``queries.sql``, each
query under a ``-- name:`` header and loaded by that name (:mod:`.queries`).

- Claims lock rows with ``FOR UPDATE SKIP LOCKED``: claimers never wait for
  each other, never take the same job, and mark what they take in the same
  statement.
- Idle workers ``LISTEN`` on a channel per queue; whatever makes a job
  claimable ``NOTIFY``\\ s that channel in the same transaction, so a waiting
  claim wakes when the transaction commits. A waiting claim also looks again
  every second, for retries that came due.
- :func:`in_transaction` (and :func:`enqueue_on`) store jobs inside the
  application's own transaction: workers see them when it commits, and never
  if it rolls back.

This docstring is the one description of the store's layout
(docs/ARCHITECTURE.md links here). Tables, all prefixed ``conveyor_``:

- ``conveyor_jobs``: one row per job record (``position``, from the sequence
  ``conveyor_jobs_position``, orders queued jobs: the back of a queue takes
  ``nextval``, the front its negative; ``options`` is ``jsonb``, NULL when
  the job has no worker-only options; 0002);
- ``conveyor_workers``: the worker registry; ``conveyor_tokens``: web API
  tokens by site and name, SHA-256 only;
- ``conveyor_periodic``: one row per periodic job (0003, :mod:`.periodic`);
- ``conveyor_paused_queues``, ``conveyor_worker_commands``: paused queues and
  commands to workers (0004);
- ``conveyor_counts`` plus ``conveyor_count_changes``: job records per queue
  and state, as base counts plus deltas appended by every change (the
  enqueue, claim and complete statements count their own; triggers the
  rest), folded in by purge; ``conveyor_stats``: what ended per queue and
  minute (0005);
- ``conveyor_schema_version``: the migrations applied, written under the
  schema's advisory lock.

Notification channels: ``conveyor_<md5(schema/queue)>`` per queue (a name is
limited to 63 bytes), and ``conveyor_ended_<md5(schema)>``, notified once per
completion batch that ended jobs, for ``wait_ended()``.

One connection per backend instance, guarded by a lock (a waiting claim
holds it for at most a second at a time). Each operation is
one transaction: one statement, or several sent together in a pipeline
(which the server runs as one transaction), or an explicit transaction block
where a decision needs a row read first. That makes most operations a single
round trip. A dropped connection raises BackendUnavailable and is replaced
on the next call. Needs PostgreSQL 13 or newer.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import DictRow, dict_row

from conveyor.backends import migrations
from conveyor.backends.base import (
    ENDED_STATES,
    STATS_RETENTION,
    ApiToken,
    Backend,
    Completion,
    JobRecord,
    JobState,
    MinuteStats,
    NewJob,
    Page,
    Recovery,
    WorkerInfo,
    check_completions,
    check_new_jobs,
    minute_of,
    page_across,
)
from conveyor.backends.control import COMMAND_TTL, WorkerControl
from conveyor.backends.periodic import PeriodicDeclaration, PeriodicEntry
from conveyor.backends.postgresql import periodic
from conveyor.backends.postgresql.queries import query, record, store, token, translated, where
from conveyor.backends.postgresql.transactions import (
    applied,
    create_tables,
    current_connection,
    enqueue_in,
    enqueue_on,
    in_transaction,
    migrate,
)
from conveyor.backends.urls import pop_url_option
from conveyor.exceptions import (
    BackendError,
    BackendUnavailable,
    ConfigError,
    DuplicateTokenError,
    JobStateError,
)

__all__ = [
    "SCHEMA_VERSION",
    "PostgreSQLBackend",
    "create_tables",
    "enqueue_in",
    "enqueue_on",
    "in_transaction",
]

#: The version of the tables this module creates and expects: its latest migration.
SCHEMA_VERSION = migrations.latest("postgresql")
_MIN_SERVER = 130000  # gen_random_uuid() is built in from 13
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")
_RECHECK_SECONDS = 1.0  # a waiting claim looks at the table at least this often
_PURGE_BATCH = 1000
# A count that read more changes than this folds them into the kept counts (migration 0005).
_FOLD_AFTER = 10_000

Connection = psycopg.Connection[DictRow]


def _redacted(conninfo: str) -> str:
    """A URL or key=value connection string without its password, for messages."""
    if "://" not in conninfo:
        return _PASSWORD.sub(r"\1***", conninfo)
    parts = urlsplit(conninfo)
    if parts.password is None:
        return conninfo
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


#: The bounds of each statement on conveyor's own sessions (issue 15).
_BOUNDS = "-c lock_timeout=20s -c statement_timeout=60s"


class PostgreSQLBackend(Backend):
    """Jobs in a PostgreSQL database."""

    claims_in_background = True

    def __init__(
        self, conninfo: str, *, schema: str | None = None, recheck: float = _RECHECK_SECONDS
    ) -> None:
        """Connect to ``conninfo`` (a libpq URL or key=value string).

        ``schema`` keeps the tables in that schema (created if missing)
        instead of the connection's current one. ``recheck`` is how often a
        waiting claim looks at the table without being notified.
        """
        try:
            params = conninfo_to_dict(conninfo)
        except psycopg.ProgrammingError as exc:
            raise ConfigError(f"Invalid PostgreSQL URL {_redacted(conninfo)!r}: {exc}") from None
        extra: dict[str, Any] = {
            "connect_timeout": params.get("connect_timeout", 5),
            "application_name": params.get("application_name", "conveyor"),
        }
        # Every store call has a bound: a statement waits at most this long for a
        # lock or in all, then fails like an unreachable server (the worker backs
        # off and retries). Options in the URL come after, so they win.
        options = f"{_BOUNDS} {params.get('options', '')}".strip()
        if schema is not None:
            if not _SCHEMA_NAME.fullmatch(schema):
                raise ConfigError(f"Invalid PostgreSQL schema name {schema!r}")
            options += f" -c search_path={schema}"
        extra["options"] = options
        self._conninfo = make_conninfo(conninfo, **extra)
        #: The server, as messages name it: host:port/dbname.
        self.where = where(params)
        self._wanted_schema = schema
        self._recheck = recheck
        self._lock = threading.RLock()
        self._conn: Connection | None = None
        self._listening: tuple[str, ...] | None = None  # the queues LISTENed to
        #: The schema holding the tables (the current one, unless ?schema= named one).
        self.schema = ""
        with self._session():
            pass  # connect now: a bad URL or an unreachable server fails at open

    @classmethod
    def from_url(cls, url: str, base_dir: Path | None = None) -> PostgreSQLBackend:
        """``postgresql://user:password@host:port/dbname`` (or ``postgres://``).

        ``?schema=NAME`` keeps the tables in that schema (lowercase letters,
        digits and ``_``; created if missing); other query options are
        libpq's (``sslmode``, ``connect_timeout``, ``application_name``, ...).
        A Unix socket: ``postgresql://user@/dbname?host=/var/run/postgresql``.
        """
        del base_dir
        rest, schemas = pop_url_option(url, "schema")
        if len(schemas) > 1 or (schemas and not _SCHEMA_NAME.fullmatch(schemas[0])):
            raise ConfigError(
                f"Invalid schema in {_redacted(url)!r}: use one name of lowercase letters,"
                " digits or '_', not starting with a digit, at most 63 characters"
            )
        return cls(rest, schema=schemas[0] if schemas else None)

    # -- plumbing ----------------------------------------------------------
    @contextlib.contextmanager
    def _session(self) -> Iterator[Connection]:
        """The connection, held for one operation; driver errors translated.

        The connection is in autocommit mode: a lone statement is its own
        transaction, and several go in a pipeline or a ``transaction()``
        block. A connection found broken is dropped, and the next operation
        opens a new one.
        """
        with self._lock:
            try:
                with translated(self.where):
                    yield self._connection()
            except BackendUnavailable:
                conn = self._conn
                if conn is None or conn.closed or conn.broken:
                    self._discard()
                raise

    def _connection(self) -> Connection:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        self._discard()
        conn = psycopg.connect(self._conninfo, autocommit=True, row_factory=dict_row)
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _prepare(self, conn: Connection) -> None:
        """Check the server; create the tables, or migrate them, if they are behind.

        The usual open, of tables up to date, only reads; migrating takes the
        schema's advisory lock and looks again under it.
        """
        version = conn.info.server_version
        if version < _MIN_SERVER:
            raise BackendError(
                f"PostgreSQL at {self.where} is version {version // 10000};"
                " conveyor needs 13 or newer"
            )
        row = conn.execute(query("installed")).fetchone()
        assert row is not None
        name = self._wanted_schema or row["schema"]
        store = f"in PostgreSQL at {self.where}, schema {name}"
        with conn.cursor() as cur:
            if migrations.pending("postgresql", applied(cur), store):
                if name is None:
                    raise ConfigError(
                        f"PostgreSQL at {self.where} has no current schema to create"
                        " conveyor's tables in: add ?schema=NAME to the backend URL"
                    )
                with conn.transaction():
                    cur.execute(query("schema_lock"), {"schema": name})
                    if self._wanted_schema is not None:
                        create = sql.SQL("CREATE SCHEMA IF NOT EXISTS {}")
                        cur.execute(create.format(sql.Identifier(name)))
                    migrate(cur, store)
                row = conn.execute(query("installed")).fetchone()
                assert row is not None
        self.schema = str(row["schema"])

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        self._listening = None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def _rows(self, name: str, params: Mapping[str, Any] | None = None) -> list[DictRow]:
        """The rows of one query, run as a transaction of its own."""
        with self._session() as conn:
            return conn.execute(query(name), params).fetchall()

    # -- producing ---------------------------------------------------------
    def enqueue(self, jobs: Sequence[NewJob], *, now: float) -> None:
        if not jobs:
            return
        check_new_jobs(jobs)
        app = current_connection()
        if app is not None:
            enqueue_on(app, jobs, now=now, schema=self.schema)
            return
        with self._session() as conn, conn.cursor() as cur:
            store(cur, jobs, now, undo=lambda: None)  # a failed statement undid itself

    # -- consuming ---------------------------------------------------------
    def claim(
        self,
        queues: Sequence[str],
        *,
        worker: str,
        lease: float,
        now: float,
        limit: int = 1,
        wait: float = 0.0,
    ) -> list[JobRecord]:
        if not queues or limit <= 0:
            return []
        started = time.monotonic()
        # The first look uses ``now`` as given (so a lease expires at exactly
        # now + lease); later looks add the time spent waiting.
        elapsed = 0.0
        while True:
            self._listen(queues, wait)  # before looking: nothing enqueued after it is missed
            with self._session() as conn:
                claimed = self._claim_in(conn, [], queues, worker, lease, now + elapsed, limit)[1]
            if claimed:
                return claimed
            elapsed = time.monotonic() - started
            remaining = wait - elapsed
            if remaining <= 0:
                return []
            self._await_notification(min(remaining, self._until_due(now + elapsed)))
            elapsed = time.monotonic() - started

    def _listen(self, queues: Sequence[str], wait: float) -> None:
        """Before a look: LISTEN to the channels of exactly these queues if it may wait.

        Notifications received so far are dropped: the look sees their jobs.
        (A busy worker claims without waiting, and without this its
        connection would pile up notifications until it waits again.)
        """
        with self._session() as conn:
            if wait > 0 and self._listening != tuple(queues):
                with conn.transaction():
                    rows = conn.execute(query("channels"), {"queues": list(queues)}).fetchall()
                    conn.execute(query("unlisten"))
                    for row in rows:
                        # A channel is an identifier, which cannot be a parameter.
                        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(row["channel"])))
                self._listening = tuple(queues)
            if self._listening is not None:
                for _ in conn.notifies(timeout=0):
                    pass

    def _until_due(self, now: float) -> float:
        """How long an idle claim may wait: until the next scheduled job is due, at most
        the recheck interval (an enqueue wakes the wait early, a due time does not)."""
        rows = self._rows("next_due")
        due = rows[0]["due"] if rows else None
        if due is None:
            return self._recheck
        return min(self._recheck, max(float(due) - now, 0.01))

    def _await_notification(self, timeout: float) -> None:
        """Block until a job may have arrived on a LISTENed queue, or ``timeout`` passes."""
        with self._session() as conn:
            for _ in conn.notifies(timeout=timeout, stop_after=1):
                break

    def _claim_in(
        self,
        conn: Connection,
        completions: Sequence[Completion],
        queues: Sequence[str],
        worker: str,
        lease: float,
        now: float,
        limit: int,
    ) -> tuple[list[bool], list[JobRecord]]:
        """Record outcomes, promote due retries, claim: one pipeline, so one transaction.

        Each statement sees what the ones before it did (a retry promoted
        now is claimable now).
        """
        with conn.pipeline():
            recorded = self._send_completions(conn, completions, now) if completions else None
            conn.execute(query("promote"), {"now": float(now)})
            cur = conn.execute(
                query("claim"),
                {
                    "queues": list(queues),
                    "limit": limit,
                    "worker": worker,
                    "lease_expires_at": float(now + lease),
                    "now": float(now),
                },
            )
        accepted = self._accepted(recorded, completions) if recorded is not None else []
        rows = sorted(cur.fetchall(), key=lambda row: (row["rank"], row["position"]))
        return accepted, [record(row) for row in rows]

    def _complete_then_claim(
        self,
        completions: Sequence[Completion],
        queues: Sequence[str],
        *,
        worker: str,
        lease: float,
        now: float,
        limit: int,
        wait: float,
    ) -> tuple[list[bool], list[JobRecord]] | None:
        self._listen(queues, wait)
        with self._session() as conn:
            accepted, claimed = self._claim_in(
                conn, completions, queues, worker, lease, now, limit
            )
        return accepted, claimed

    def complete(self, completions: Sequence[Completion], *, now: float) -> list[bool]:
        if not completions:
            return []
        with self._session() as conn:
            return self._accepted(self._send_completions(conn, completions, now), completions)

    @staticmethod
    def _send_completions(
        conn: Connection, completions: Sequence[Completion], now: float
    ) -> tuple[psycopg.Cursor[DictRow], list[int]]:
        """Send complete.sql; its cursor, and the index in ``completions`` of each outcome sent.

        A lease ends once: of a (job, token) given twice, only the first
        outcome is sent, as a second one in a later call would be refused.
        """
        check_completions(completions)
        first: dict[tuple[str, str], int] = {}
        for index, done in enumerate(completions):
            first.setdefault((done.job_id, done.token), index)
        sent = sorted(first.values())
        batch = [completions[index] for index in sent]
        cur = conn.execute(
            query("complete"),
            {
                "now": float(now),
                "ids": [done.job_id for done in batch],
                "tokens": [done.token for done in batch],
                "states": [JobState(done.state).value for done in batch],
                "results": [done.result for done in batch],
                "errors": [json.dumps(d.error.to_dict()) if d.error else None for d in batch],
                "run_ats": [done.run_at for done in batch],
                "started_ats": [done.started_at for done in batch],
                "uncounted": [not done.count_attempt for done in batch],
            },
        )
        return cur, sent

    @staticmethod
    def _accepted(
        sent: tuple[psycopg.Cursor[DictRow], list[int]], completions: Sequence[Completion]
    ) -> list[bool]:
        """Which outcomes were recorded, from the ordinals (from 1) complete.sql returned."""
        cur, indexes = sent
        accepted = [False] * len(completions)
        for row in cur.fetchall():
            if row["n"] is not None:  # (the row of the "jobs ended" notification has none)
                accepted[indexes[int(row["n"]) - 1]] = True
        return accepted

    def extend(self, leases: Sequence[tuple[str, str]], *, lease: float, now: float) -> list[bool]:
        if not leases:
            return []
        rows = self._rows(
            "extend",
            {
                "lease_expires_at": float(now + lease),
                "ids": [job_id for job_id, _ in leases],
                "tokens": [token for _, token in leases],
            },
        )
        held = {row["id"] for row in rows}
        return [job_id in held for job_id, _ in leases]

    # -- job meta (issue 16: save_meta) -----------------------------------
    def save_meta(self, job_id: str, meta: Mapping[str, Any], *, token: str | None = None) -> bool:
        params = {"id": job_id, "meta": json.dumps(dict(meta)), "token": token}
        return bool(self._rows("save_meta", params))

    def recover(self, *, now: float) -> list[Recovery]:
        with self._session() as conn, conn.transaction():
            rows = conn.execute(query("recover"), {"now": float(now)}).fetchall()
            gone = [r["id"] for r in rows if r["state"] == "failed" and r["failure_ttl"] == 0]
            if gone:  # as complete() does: no record is kept
                conn.execute(query("delete"), {"ids": gone})
            requeued = sorted({r["queue"] for r in rows if r["state"] == "queued"})
            if requeued:
                conn.execute(query("notify"), {"queues": requeued})
        return [
            Recovery(
                job_id=row["id"],
                queue=row["queue"],
                state=JobState(row["state"]),
                attempts=row["attempts"],
            )
            for row in rows
        ]

    def purge(self, *, now: float) -> int:
        total = 0
        with self._session() as conn:
            conn.execute(query("purge_workers"), {"now": float(now)})
            conn.execute(query("purge_stats"), {"before": minute_of(now - STATS_RETENTION)})
            while True:  # in batches: no transaction holds many rows for long
                params = {"now": float(now), "batch": _PURGE_BATCH}
                purged = conn.execute(query("purge_jobs"), params).rowcount
                total += purged
                if purged < _PURGE_BATCH:
                    break
            conn.execute(query("compact_counts"))  # the workers' maintenance folds the counts
        return total

    # -- managing ----------------------------------------------------------
    def get(self, job_id: str) -> JobRecord | None:
        rows = self._rows("get", {"id": job_id})
        return record(rows[0]) if rows else None

    def list_jobs(
        self,
        queues: Sequence[str],
        *,
        states: Sequence[JobState] = (JobState.QUEUED,),
        offset: int = 0,
        limit: int | None = None,
    ) -> Page:
        values = [JobState(state).value for state in states]
        if not queues or not values:
            return Page(items=(), total=0)
        page = query("list_queued") if values == ["queued"] else query("list_any")
        if len(values) == 1 and JobState(values[0]) in ENDED_STATES:
            page = query("list_ended")
        # One snapshot for the kept counts and the pages, so they agree.
        with self._session() as conn, conn.transaction():
            conn.execute(query("repeatable_read"))
            rows = conn.execute(
                query("list_counts"), {"queues": list(queues), "states": values}
            ).fetchall()
            counts = {row["queue"]: int(row["total"]) for row in rows}

            def page_of(queue: str, skip: int, wanted: int | None) -> tuple[int, list[JobRecord]]:
                count = counts.get(queue, 0)
                if skip >= count or wanted == 0:
                    return count, []
                params = {
                    "queue": queue,
                    "states": values,
                    "state": values[0],
                    "limit": wanted,
                    "offset": skip,
                }
                return count, [record(row) for row in conn.execute(page, params)]

            return page_across(queues, offset, limit, page_of)

    def queue_names(self, prefix: str) -> list[str]:
        return [row["queue"] for row in self._rows("queue_names", {"prefix": prefix})]

    def count(self, queues: Sequence[str]) -> dict[str, dict[JobState, int]]:
        counts: dict[str, dict[JobState, int]] = {queue: {} for queue in queues}
        if not queues:
            return counts
        changes = 0
        for row in self._rows("count", {"queues": list(queues)}):
            changes += int(row["changes"])
            if int(row["total"]):
                counts[row["queue"]][JobState(row["state"])] = int(row["total"])
        if changes > _FOLD_AFTER:  # no worker has folded them lately (purge() does)
            self._rows("compact_counts")
        return counts

    def stats(self, prefix: str, *, since: float, until: float) -> list[MinuteStats]:
        params = {"prefix": prefix, "first": minute_of(since), "last": minute_of(until)}
        return [
            MinuteStats(
                queue=row["queue"],
                minute=int(row["minute"]) * 60,
                finished=int(row["finished"]),
                failed=int(row["failed"]),
                wait_sum=float(row["wait_sum"]),
                wait_count=int(row["wait_count"]),
                run_sum=float(row["run_sum"]),
                run_count=int(row["run_count"]),
            )
            for row in self._rows("stats", params)
        ]

    def cancel(self, job_id: str, *, now: float) -> JobRecord | None:
        with self._session() as conn, conn.transaction():
            row = conn.execute(query("lock_job"), {"id": job_id}).fetchone()
            if row is None:
                return None
            found = record(row)
            if found.state in ENDED_STATES:
                raise JobStateError.cannot_cancel(job_id, found.state.value)
            # A failure_ttl of 0 keeps no canceled record either.
            if found.state is JobState.STARTED and found.failure_ttl != 0:
                conn.execute(query("cancel_started"), {"id": job_id, "now": float(now)})
            else:
                conn.execute(query("delete"), {"ids": [job_id]})
            return found

    def delete(self, job_id: str, *, now: float) -> JobRecord | None:
        rows = self._rows("delete_one", {"id": job_id})
        return record(rows[0]) if rows else None

    def wait_ended(self, job_id: str, *, timeout: float | None) -> JobRecord | None:
        """LISTEN, on a connection of its own, to the notification completions send when
        they end jobs, and look again at least every second for ends that send none."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with translated(self.where), psycopg.connect(self._conninfo, autocommit=True) as conn:
            channel = conn.execute(query("ended_channel")).fetchone()
            assert channel is not None
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel[0])))
            while True:
                record = self.get(job_id)
                if record is None or record.state in ENDED_STATES:
                    return record
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return record
                wait = 1.0 if remaining is None else min(remaining, 1.0)
                for _ in conn.notifies(timeout=wait, stop_after=1):
                    break

    def clear(self, queues: Sequence[str], *, now: float) -> dict[str, int]:
        cleared = dict.fromkeys(queues, 0)
        if not queues:
            return cleared
        for row in self._rows("clear", {"queues": list(queues)}):
            cleared[row["queue"]] += 1
        return cleared

    def requeue(self, job_ids: Sequence[str], *, now: float) -> list[str]:
        if not job_ids:
            return []
        rows = self._rows("requeue", {"ids": list(dict.fromkeys(job_ids)), "now": float(now)})
        return [row["id"] for row in rows]

    def run_now(self, job_ids: Sequence[str], *, now: float) -> list[str]:
        if not job_ids:
            return []
        del now  # the jobs join their queues' backs, as promote.sql moves them
        rows = self._rows("run_now", {"ids": list(job_ids)})
        return [row["id"] for row in rows]

    # -- workers -----------------------------------------------------------
    def register_worker(self, info: WorkerInfo, *, ttl: float, now: float) -> None:
        with self._session() as conn:
            conn.execute(
                query("register_worker"),
                {
                    "key": info.key,
                    "info": json.dumps(info.to_dict()),
                    "started_at": float(info.started_at),
                    "expires_at": float(now + ttl),
                },
            )

    def unregister_worker(self, key: str) -> None:
        with self._session() as conn:
            conn.execute(query("unregister_worker"), {"key": key})

    def workers(self, prefix: str, *, now: float) -> list[WorkerInfo]:
        rows = self._rows("workers", {"now": float(now)})
        found = [WorkerInfo.from_dict(row["info"]) for row in rows]
        return [w for w in found if w.serves(prefix)]

    # -- web API tokens ------------------------------------------------------
    def save_token(self, token: ApiToken) -> None:
        rows = self._rows(
            "save_token",
            {
                "site_id": token.site_id,
                "name": token.name,
                "hash": token.hash,
                "read_only": token.read_only,
                "created_at": float(token.created_at),
            },
        )
        if not rows:  # the (site_id, name) key, or the hash, is taken
            raise DuplicateTokenError(token.name)

    def tokens(self, site_id: str) -> list[ApiToken]:
        return [token(row) for row in self._rows("tokens", {"site_id": site_id})]

    def revoke_token(self, site_id: str, name: str) -> bool:
        return bool(self._rows("revoke_token", {"site_id": site_id, "name": name}))

    def find_token(self, token_hash: str) -> ApiToken | None:
        rows = self._rows("find_token", {"hash": token_hash})
        return token(rows[0]) if rows else None

    # -- periodic jobs (table conveyor_periodic) ---------------------------------
    def declare_periodic(self, declarations: Sequence[PeriodicDeclaration], *, now: float) -> None:
        if declarations:
            with self._session() as conn:
                periodic.declare(conn, declarations, now)

    def claim_tick(self, name: str, tick: float, job: NewJob | None, *, now: float) -> bool:
        with self._session() as conn:
            return periodic.take(conn, name, tick, job, now)

    def periodic_entries(self, prefix: str) -> list[PeriodicEntry]:
        with self._session() as conn:
            return periodic.entries(conn, prefix)

    def set_periodic_enabled(self, name: str, enabled: bool) -> PeriodicEntry | None:
        with self._session() as conn:
            return periodic.set_enabled(conn, name, enabled)

    def forget_periodic(self, name: str) -> bool:
        with self._session() as conn:
            return periodic.forget(conn, name)

    # -- paused queues and worker commands (migration 0004) ---------------------
    def set_paused(self, queues: Sequence[str], paused: bool, *, now: float) -> list[str]:
        if not queues:
            return []
        params = {"queues": list(queues), "now": float(now)}
        rows = self._rows("pause_queues" if paused else "resume_queues", params)
        changed = {row["queue"] for row in rows}
        return [queue for queue in dict.fromkeys(queues) if queue in changed]

    def paused_queues(self, prefix: str) -> list[str]:
        return [row["queue"] for row in self._rows("paused_queues", {"prefix": prefix})]

    def command_worker(self, key: str, command: str, *, now: float) -> None:
        params = {
            "key": key,
            "command": command,
            "now": float(now),
            "expires_at": float(now) + COMMAND_TTL,
        }
        self._rows("command_worker", params)

    def worker_control(self, key: str, queues: Sequence[str]) -> WorkerControl:
        rows = self._rows("worker_control", {"key": key, "queues": list(queues)})
        commands = [row["command"] for row in rows if row["command"] is not None]
        return WorkerControl(
            paused=frozenset(row["queue"] for row in rows if row["queue"] is not None),
            command=commands[0] if commands else None,
        )

    def forget_worker_command(self, key: str) -> None:
        self._rows("forget_worker_command", {"key": key})

    def close(self) -> None:
        with self._lock:
            self._discard()
