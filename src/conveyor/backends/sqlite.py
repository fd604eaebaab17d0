"""The embedded default: one SQLite file in WAL mode, shared by local processes.

Every state change is one ``BEGIN IMMEDIATE`` transaction (or one statement,
which is a write transaction of its own: the enqueue of a single job), so
concurrent producers and workers on one machine never lose or double-claim a
job: SQLite serialises writers, and a claim reads and marks its rows inside
one write transaction.

Idle workers wait by watching ``PRAGMA data_version`` (which changes when
another connection commits) instead of opening write transactions: after a
claim finds nothing, the waiting claim checks it, sleeping 0.5 ms growing to
10 ms between checks, and claims again only when it changed, once a second,
or when the next scheduled job is due. A dozen idle workers cost next to
nothing, and a new job is picked up within about 10 ms.

This docstring is the one description of the store's layout
(docs/ARCHITECTURE.md links here). The tables are built, and upgraded, by
the numbered migrations in ``migrations/sqlite/`` when a backend opens the
file (see :meth:`_migrate`). Every statement it runs is in
``sqlite_queries.sql``, found by name (:mod:`.sqlite_queries`); none is
written inline here. The tables:

- ``conveyor_jobs``: one row per job record (``position`` orders queued jobs,
  ``expires_at`` is when an ended record is purged, ``options`` the
  worker-only options as JSON, NULL when there are none; 0002);
- ``conveyor_workers``: the worker registry, one JSON row per live worker;
- ``conveyor_tokens``: web API tokens by site and name, SHA-256 only;
- ``conveyor_periodic``: one row per periodic job (0003,
  :mod:`.sqlite_periodic`);
- ``conveyor_paused_queues``, ``conveyor_worker_commands``: paused queues and
  commands to workers (0004, :mod:`.sqlite_control`);
- ``conveyor_counts``: job records per queue and state, kept by triggers and,
  for claims and completions, once per batch by :mod:`.sqlite_counts`;
  ``conveyor_stats``: what ended per queue and minute, for the dashboard's
  charts (0005);
- ``conveyor_schema_version``: the migrations applied. ``PRAGMA
  user_version`` is 3 from before migrations existed and is not read.

The connection is shared by the threads of one process, under a lock.
"locked", "busy" and "unable to open" errors become BackendUnavailable,
other ``sqlite3`` errors BackendError; nothing above the backend sees them.

Durability: ``synchronous=NORMAL`` by default, which survives any process
crash (kill -9) but may lose the last transactions on power loss; add
``?synchronous=full`` to the URL to trade speed for that too.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from conveyor.backends import migrations, sqlite_control, sqlite_counts, sqlite_periodic
from conveyor.backends.base import (
    ENDED_STATES,
    STATS_RETENTION,
    ApiToken,
    Backend,
    Completion,
    ErrorInfo,
    JobRecord,
    JobState,
    MinuteStats,
    NewJob,
    Page,
    Recovery,
    WorkerInfo,
    check_completions,
    check_new_jobs,
    lease_tokens,
    minute_of,
    page_across,
    record_from_row,
)
from conveyor.backends.control import WorkerControl
from conveyor.backends.periodic import PeriodicDeclaration, PeriodicEntry
from conveyor.backends.sqlite_queries import query, with_words
from conveyor.backends.urls import sqlite_location
from conveyor.exceptions import (
    BackendError,
    BackendUnavailable,
    DuplicateJobError,
    DuplicateTokenError,
    JobStateError,
)

_MIN_SQLITE = (3, 35, 0)  # RETURNING
_RECHECK_SECONDS = 1.0  # an idle claim looks at the table at least this often
_POLL_MAX = 0.01  # longest sleep between data_version checks while waiting


def _expiry(now: float, ttl: int) -> float | None:
    return None if ttl < 0 else now + ttl


def _record(row: sqlite3.Row) -> JobRecord:
    return record_from_row(
        row,
        meta={} if row["meta"] == "{}" else json.loads(row["meta"]),
        retry=json.loads(row["retry"]) if row["retry"] else None,
        errors=()
        if row["errors"] == "[]"
        else tuple(ErrorInfo.from_dict(e) for e in json.loads(row["errors"])),
        options=json.loads(row["options"]) if row["options"] else {},
    )


def _statements(script: str) -> Iterator[str]:
    """The statements of an SQL script, one by one.

    executescript() would COMMIT first, ending the transaction a migration
    must run in. A ``;`` inside a string literal does not end a statement.
    """
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip(" \n;"):
        yield pending


def _stored_columns(job: NewJob, now: float) -> tuple[Any, ...]:
    """A new job's columns from ``func`` to ``options``, in the order of the enqueue queries
    (after id, queue, state, run_at and, in a batch, position)."""
    return (
        job.func,
        job.payload,
        job.title,
        job.description,
        json.dumps(dict(job.meta)) if job.meta else "{}",
        job.timeout,
        job.result_ttl,
        job.failure_ttl,
        job.max_attempts,
        json.dumps(dict(job.retry)) if job.retry else None,
        job.created_at,
        now,
        json.dumps(dict(job.options)) if job.options else None,
    )


class SQLiteBackend(Backend):
    """Jobs in one SQLite database file."""

    def __init__(self, path: Path, *, busy_timeout: float = 30.0, synchronous: str = "normal"):
        if sqlite3.sqlite_version_info < _MIN_SQLITE:
            raise BackendError(
                f"SQLite {sqlite3.sqlite_version} is too old; conveyor needs 3.35 or newer"
            )
        self.path = path
        self._lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise BackendUnavailable(f"Cannot open SQLite database {path}: {exc}") from None
        self._db.row_factory = sqlite3.Row
        with self._translated():
            self._db.execute(query("wal"))
            self._db.execute(with_words("synchronous", level=synchronous))
            self._db.execute(query("foreign_keys_off"))
            self._migrate()
        # The queues of the last claim that found nothing, the data_version it
        # saw, and when to look again regardless (the next due retry).
        self._idle_seen: tuple[tuple[str, ...], int, float] | None = None

    @classmethod
    def from_url(cls, url: str, base_dir: Path | None = None) -> SQLiteBackend:
        """``sqlite:///relative.db`` or ``sqlite:////absolute.db`` (SQLAlchemy's form)."""
        where = sqlite_location(url, base_dir)
        return cls(where.path, busy_timeout=where.busy_timeout, synchronous=where.synchronous)

    # -- layout ------------------------------------------------------------
    def _applied(self) -> int:
        """The number of the last migration applied to the database (0: none, a new file)."""
        if self._db.execute(query("version_table_exists")).fetchone() is None:
            return 0
        return int(self._db.execute(query("applied")).fetchone()[0] or 0)

    def _migrate(self) -> None:
        """Bring the database's layout up to this code's, or refuse one that is newer.

        The usual open, of an up-to-date database, only reads. Otherwise the
        missing migrations run in one ``BEGIN IMMEDIATE`` transaction, which
        also makes concurrent first opens wait for each other: the second
        finds the work done. A database without the version table was made
        before migrations existed, or is new: migration 0001 (idempotent)
        runs on it either way.
        """
        where = f"SQLite database {self.path}"
        if not migrations.pending("sqlite", self._applied(), where):
            return
        self._db.execute(query("begin_immediate"))
        try:
            self._db.execute(query("version_table"))
            for step in migrations.pending("sqlite", self._applied(), where):
                for statement in _statements(step.sql):
                    self._db.execute(statement)
                self._db.execute(query("record_migration"), (step.version, time.time()))
        except BaseException:
            self._db.execute(query("rollback"))
            raise
        self._db.execute(query("commit"))

    # -- plumbing ----------------------------------------------------------
    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Driver errors become conveyor's, at this seam and nowhere else."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text or "unable to open" in text:
                raise BackendUnavailable(f"SQLite database {self.path}: {text}") from None
            raise BackendError(f"SQLite database {self.path}: {text}") from exc
        except sqlite3.DatabaseError as exc:
            raise BackendError(f"SQLite database {self.path}: {exc}") from exc

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._translated():
            if self._db.in_transaction:  # inside our own write (claim_tick's enqueue): part of it
                yield self._db
                return
            self._db.execute(query("begin_immediate"))
            try:
                yield self._db
            except BaseException:
                self._db.execute(query("rollback"))
                raise
            self._db.execute(query("commit"))
            self._idle_seen = None  # our own commits do not change data_version

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock, self._translated():
            return self._db.execute(sql, params).fetchall()

    @staticmethod
    def _tail(db: sqlite3.Connection, queue: str, front: bool) -> int:
        """The position just past the back (or before the front) of a queue."""
        row = db.execute(query("queue_front" if front else "queue_back"), (queue,)).fetchone()
        return int(row[0] or 0)

    # -- producing ---------------------------------------------------------
    def enqueue(self, jobs: Sequence[NewJob], *, now: float) -> None:
        check_new_jobs(jobs)
        if len(jobs) == 1 and self._enqueue_alone(jobs[0], now):
            return
        with self._write() as db:
            ends: dict[tuple[str, bool], int] = {}
            rows = []
            for job in jobs:
                key = (job.queue, job.at_front)
                if key not in ends:
                    ends[key] = self._tail(db, job.queue, job.at_front)
                ends[key] += -1 if job.at_front else 1
                rows.append(
                    (
                        job.id,
                        job.queue,
                        "queued" if job.run_at is None else "scheduled",
                        job.run_at,
                        ends[key],
                        *_stored_columns(job, now),
                    )
                )
            # executemany keeps the rows before the failing one: the savepoint
            # drops them, so the duplicate can be named (the caller rolls back).
            db.execute(query("savepoint"))
            try:
                db.executemany(query("enqueue"), rows)
            except sqlite3.IntegrityError:
                db.execute(query("savepoint_rollback"))
                self._replace_ended(db, jobs, rows)

    def _enqueue_alone(self, job: NewJob, now: float) -> bool:
        """Store one job in one statement (the usual enqueue); False if its id is taken,
        and nothing was written: the general path then reuses an ended job's id, or names
        the duplicate. Also False inside a transaction of this backend's (claim_tick's)."""
        with self._lock, self._translated():
            if self._db.in_transaction:
                return False
            try:
                self._db.execute(
                    query("enqueue_at_front" if job.at_front else "enqueue_at_back"),
                    (
                        job.id,
                        job.queue,
                        "queued" if job.run_at is None else "scheduled",
                        job.run_at,
                        *_stored_columns(job, now),
                    ),
                )
            except sqlite3.IntegrityError:
                return False
            self._idle_seen = None  # our own commits do not change data_version
            return True

    def _replace_ended(
        self, db: sqlite3.Connection, jobs: Sequence[NewJob], rows: list[Any]
    ) -> None:
        """An id was taken: the records of ended jobs with these ids go, and the insert
        is tried again (RQ reuses ids). Still taken: nothing changes, DuplicateJobError."""
        db.execute(query("delete_ended"), (json.dumps([job.id for job in jobs]),))
        try:
            db.executemany(query("enqueue"), rows)
        except sqlite3.IntegrityError:
            db.execute(query("savepoint_rollback"))  # the ended records come back too
            raise DuplicateJobError(self._duplicate(db, jobs)) from None

    @staticmethod
    def _duplicate(db: sqlite3.Connection, jobs: Sequence[NewJob]) -> str:
        """The first id of the batch that a live job holds, or that repeats an earlier one."""
        seen: set[str] = set()
        for job in jobs:
            stored = db.execute(query("live"), (job.id,)).fetchone()
            if stored is not None or job.id in seen:
                return job.id
            seen.add(job.id)
        return jobs[0].id

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
        started = time.monotonic()
        delay = 0.0005
        # The first look uses ``now`` as given (so a lease expires at exactly
        # now + lease); later looks add the time spent waiting.
        elapsed = 0.0
        while True:
            if self._may_have_work(queues, now + elapsed):
                claimed = self._claim_once(queues, worker, lease, now + elapsed, limit)
                if claimed:
                    return claimed
            if elapsed >= wait:
                return []
            time.sleep(min(delay, wait - elapsed))
            delay = min(delay * 2, _POLL_MAX)
            elapsed = time.monotonic() - started

    def _data_version(self) -> int:
        with self._lock, self._translated():
            return int(self._db.execute(query("data_version")).fetchone()[0])

    def _may_have_work(self, queues: Sequence[str], now: float) -> bool:
        seen = self._idle_seen
        if seen is None or seen[0] != tuple(queues):
            return True
        _, version, due = seen
        return now >= due or self._data_version() != version

    def _claim_once(
        self, queues: Sequence[str], worker: str, lease: float, now: float, limit: int
    ) -> list[JobRecord]:
        with self._write() as db:
            claimed, idle = self._claim_in(db, queues, worker, lease, now, limit)
        if idle is not None:
            self._idle_seen = (tuple(queues), *idle)
        return claimed

    def _claim_in(
        self,
        db: sqlite3.Connection,
        queues: Sequence[str],
        worker: str,
        lease: float,
        now: float,
        limit: int,
    ) -> tuple[list[JobRecord], tuple[int, float] | None]:
        """Claim inside the caller's write transaction.

        When nothing was claimed, also returns (data_version, time of the next
        due retry) for the idle check of later claims.
        """
        version = int(db.execute(query("data_version")).fetchone()[0])
        self._promote_due(db, queues, now)
        ids: list[str] = []
        taken: list[str] = []  # the queue of each id
        for queue in queues:
            rows = db.execute(query("queued_ids"), (queue, limit - len(ids))).fetchall()
            ids.extend(row[0] for row in rows)
            taken.extend(queue for _ in rows)
            if len(ids) >= limit:
                break
        if ids:
            sqlite_counts.count_moved(db, "queued", "started", taken)
            return self._mark_started(db, ids, worker, lease, now), None
        next_due = db.execute(query("next_due")).fetchone()[0]
        return [], (version, min(now + _RECHECK_SECONDS, next_due or float("inf")))

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
        check_completions(completions)
        with self._write() as db:
            finished = sqlite_counts.Finished()
            accepted = [self._complete_one(db, done, now, finished) for done in completions]
            finished.write(db)
            claimed, idle = self._claim_in(db, queues, worker, lease, now, limit)
        if idle is not None:
            self._idle_seen = (tuple(queues), *idle)
        return accepted, claimed

    @staticmethod
    def _mark_started(
        db: sqlite3.Connection, ids: list[str], worker: str, lease: float, now: float
    ) -> list[JobRecord]:
        db.executemany(
            query("mark_started"),
            [
                (worker, token, now + lease, now, job_id)
                for job_id, token in zip(ids, lease_tokens(len(ids)), strict=True)
            ],
        )
        rows = db.execute(query("jobs"), (json.dumps(ids),)).fetchall()
        by_id = {row["id"]: _record(row) for row in rows}
        return [by_id[job_id] for job_id in ids]

    def _promote_due(self, db: sqlite3.Connection, queues: Sequence[str], now: float) -> None:
        due = db.execute(query("due"), (now,)).fetchall()
        ends: dict[str, int] = {}
        for job_id, queue in due:
            if queue not in ends:
                ends[queue] = self._tail(db, queue, front=False)
            ends[queue] += 1
            db.execute(query("to_back"), (ends[queue], job_id))

    def complete(self, completions: Sequence[Completion], *, now: float) -> list[bool]:
        check_completions(completions)
        accepted: list[bool] = []
        with self._write() as db:
            finished = sqlite_counts.Finished()
            for done in completions:
                accepted.append(self._complete_one(db, done, now, finished))
            finished.write(db)
        return accepted

    def _complete_one(
        self,
        db: sqlite3.Connection,
        done: Completion,
        now: float,
        finished: sqlite_counts.Finished,
    ) -> bool:
        if done.state is JobState.FINISHED:
            return self._finish(db, done, now, finished)
        row = db.execute(query("held"), (done.job_id, done.token)).fetchone()
        if row is None:
            return False
        error = json.dumps(done.error.to_dict()) if done.error else None
        if done.started_at is not None and done.state is not JobState.QUEUED:
            db.execute(query("set_started_at"), (done.started_at, done.job_id))
        if done.state is JobState.FAILED:
            ttl = row["failure_ttl"]
            db.execute(
                query("fail"),
                {"now": now, "expires": _expiry(now, ttl), "error": error, "id": done.job_id},
            )
        elif done.state is JobState.SCHEDULED:
            run_at = done.run_at if done.run_at is not None else now
            db.execute(
                query("retry_later"),
                {
                    "run_at": run_at,
                    "error": error,
                    "id": done.job_id,
                    "back": 0 if done.count_attempt else 1,
                },
            )
        else:  # QUEUED: check_completions() let nothing else through
            position = self._tail(db, row["queue"], front=True) - 1
            db.execute(query("release"), (position, done.job_id))
        if done.state in ENDED_STATES and ttl == 0:
            db.execute(query("delete_job"), (done.job_id,))
        return True

    @staticmethod
    def _finish(
        db: sqlite3.Connection, done: Completion, now: float, finished: sqlite_counts.Finished
    ) -> bool:
        """The hot path of complete(): one statement that checks the lease and records
        (counted in ``finished``, which the caller writes once for the batch)."""
        row = db.execute(
            query("finish"),
            {
                "now": now,
                "result": done.result,
                "started": done.started_at,
                "id": done.job_id,
                "token": done.token,
            },
        ).fetchone()
        if row is None:
            return False
        finished.add(row[1], now, row[2], row[3])
        if row[0] == 0:  # keep no record
            db.execute(query("delete_job"), (done.job_id,))
        return True

    def extend(self, leases: Sequence[tuple[str, str]], *, lease: float, now: float) -> list[bool]:
        held: list[bool] = []
        with self._write() as db:
            for job_id, token in leases:
                cursor = db.execute(query("extend"), (now + lease, job_id, token))
                held.append(cursor.rowcount == 1)
        return held

    # -- job meta (issue 16: save_meta) -----------------------------------
    def save_meta(self, job_id: str, meta: Mapping[str, Any], *, token: str | None = None) -> bool:
        text = json.dumps(dict(meta))
        with self._write() as db:
            if token is None:
                cursor = db.execute(query("save_meta"), (text, job_id))
            else:
                cursor = db.execute(query("save_meta_held"), (text, job_id, token))
            return cursor.rowcount == 1

    def recover(self, *, now: float) -> list[Recovery]:
        recovered: list[Recovery] = []
        with self._write() as db:
            rows = db.execute(query("lost"), (now,)).fetchall()
            for row in rows:
                error = ErrorInfo(
                    type="WorkerLost",
                    message=f"Worker {row['worker']} was lost while running the job"
                    " (its lease expired)",
                    attempt=row["attempts"],
                    at=now,
                )
                retry = row["attempts"] < row["max_attempts"]
                if retry:
                    position = self._tail(db, row["queue"], front=True) - 1
                    db.execute(
                        query("recover_retry"),
                        (position, json.dumps(error.to_dict()), row["id"]),
                    )
                else:
                    db.execute(
                        query("recover_fail"),
                        (
                            now,
                            _expiry(now, row["failure_ttl"]),
                            json.dumps(error.to_dict()),
                            row["id"],
                        ),
                    )
                    if row["failure_ttl"] == 0:  # as complete() does: no record is kept
                        db.execute(query("delete_job"), (row["id"],))
                recovered.append(
                    Recovery(
                        job_id=row["id"],
                        queue=row["queue"],
                        state=JobState.QUEUED if retry else JobState.FAILED,
                        attempts=row["attempts"],
                    )
                )
        return recovered

    def purge(self, *, now: float) -> int:
        with self._write() as db:
            cursor = db.execute(query("purge_jobs"), (now,))
            db.execute(query("purge_workers"), (now,))
            db.execute(query("purge_stats"), (minute_of(now - STATS_RETENTION),))
            return cursor.rowcount

    def requeue(self, job_ids: Sequence[str], *, now: float) -> list[str]:
        moved: list[str] = []
        with self._write() as db:
            for job_id in job_ids:
                row = db.execute(query("requeueable"), (job_id,)).fetchone()
                if row is None:
                    continue
                db.execute(
                    query("requeue"),
                    (self._tail(db, row["queue"], front=False) + 1, now, job_id),
                )
                moved.append(job_id)
        return moved

    def run_now(self, job_ids: Sequence[str], *, now: float) -> list[str]:
        del now  # the job joins its queue's back, as a promotion does; no time is recorded
        moved: list[str] = []
        with self._write() as db:
            for job_id in dict.fromkeys(job_ids):
                row = db.execute(query("scheduled_queue"), (job_id,)).fetchone()
                if row is None:
                    continue
                db.execute(
                    query("to_back"), (self._tail(db, row["queue"], front=False) + 1, job_id)
                )
                moved.append(job_id)
        return moved

    # -- workers -----------------------------------------------------------
    def register_worker(self, info: WorkerInfo, *, ttl: float, now: float) -> None:
        with self._write() as db:
            db.execute(
                query("register_worker"),
                (info.key, json.dumps(info.to_dict()), info.started_at, now + ttl),
            )

    def unregister_worker(self, key: str) -> None:
        with self._write() as db:
            db.execute(query("unregister_worker"), (key,))

    def workers(self, prefix: str, *, now: float) -> list[WorkerInfo]:
        rows = self._read(query("workers"), (now,))
        found = [WorkerInfo.from_dict(json.loads(row[0])) for row in rows]
        return [w for w in found if w.serves(prefix)]

    # -- managing ----------------------------------------------------------
    def get(self, job_id: str) -> JobRecord | None:
        rows = self._read(query("get"), (job_id,))
        return _record(rows[0]) if rows else None

    def list_jobs(
        self,
        queues: Sequence[str],
        *,
        states: Sequence[JobState] = (JobState.QUEUED,),
        offset: int = 0,
        limit: int | None = None,
    ) -> Page:
        state_values = [JobState(s).value for s in states]
        if not queues or not state_values:
            return Page(items=(), total=0)
        # Each query's comment says which index it reads.
        if state_values == ["queued"]:
            sql, params = query("list_queued"), []
        elif len(state_values) == 1 and JobState(state_values[0]) in ENDED_STATES:
            sql, params = query("list_ended"), state_values
        else:
            sql, params = query("list_any"), [json.dumps(state_values)]

        def page_of(queue: str, skip: int, wanted: int | None) -> tuple[int, list[JobRecord]]:
            count = totals.get(queue, 0)
            if skip >= count or wanted == 0:
                return count, []
            rows = self._db.execute(
                sql, [queue, *params, -1 if wanted is None else wanted, skip]
            ).fetchall()
            return count, [_record(row) for row in rows]

        # One read transaction, so the kept counts and the pages agree.
        with self._lock, self._translated():
            self._db.execute(query("begin"))
            try:
                totals = self._kept_counts(queues, state_values)
                return page_across(queues, offset, limit, page_of)
            finally:
                self._db.execute(query("commit"))

    def _kept_counts(self, queues: Sequence[str], states: Sequence[str]) -> dict[str, int]:
        """Per queue, its records in ``states``, from conveyor_counts (migration 0005)."""
        rows = self._db.execute(
            query("kept_counts"), (json.dumps(list(queues)), json.dumps(list(states)))
        ).fetchall()
        return {queue: int(total) for queue, total in rows}

    def queue_names(self, prefix: str) -> list[str]:
        rows = self._read(query("queue_names"), (prefix, prefix + "\U0010ffff"))
        return [row[0] for row in rows]

    def count(self, queues: Sequence[str]) -> dict[str, dict[JobState, int]]:
        counts: dict[str, dict[JobState, int]] = {queue: {} for queue in queues}
        if not queues:
            return counts
        rows = self._read(query("count"), (json.dumps(list(queues)),))
        for queue, state, number in rows:
            counts[queue][JobState(state)] = number
        return counts

    def stats(self, prefix: str, *, since: float, until: float) -> list[MinuteStats]:
        rows = self._read(
            query("stats"),
            (minute_of(since), minute_of(until), prefix, prefix + "\U0010ffff"),
        )
        return [
            MinuteStats(
                queue=row[0],
                minute=int(row[1]) * 60,
                finished=int(row[2]),
                failed=int(row[3]),
                wait_sum=float(row[4]),
                wait_count=int(row[5]),
                run_sum=float(row[6]),
                run_count=int(row[7]),
            )
            for row in rows
        ]

    def cancel(self, job_id: str, *, now: float) -> JobRecord | None:
        with self._write() as db:
            row = db.execute(query("get"), (job_id,)).fetchone()
            if row is None:
                return None
            record = _record(row)
            if record.state in ENDED_STATES:
                raise JobStateError.cannot_cancel(job_id, record.state.value)
            # A failure_ttl of 0 keeps no canceled record either.
            if record.state is JobState.STARTED and record.failure_ttl != 0:
                db.execute(
                    query("cancel_started"),
                    (now, _expiry(now, record.failure_ttl), job_id),
                )
            else:
                db.execute(query("delete_job"), (job_id,))
            return record

    def delete(self, job_id: str, *, now: float) -> JobRecord | None:
        with self._write() as db:
            row = db.execute(query("delete_returning"), (job_id,)).fetchone()
        return None if row is None else _record(row)

    def clear(self, queues: Sequence[str], *, now: float) -> dict[str, int]:
        cleared = dict.fromkeys(queues, 0)
        if not queues:
            return cleared
        with self._write() as db:
            rows = db.execute(query("clear"), (json.dumps(list(queues)),)).fetchall()
        for (queue,) in rows:
            cleared[queue] += 1
        return cleared

    # -- web API tokens ------------------------------------------------------
    def save_token(self, token: ApiToken) -> None:
        with self._write() as db:
            try:
                db.execute(
                    query("save_token"),
                    (
                        token.site_id,
                        token.name,
                        token.hash,
                        int(token.read_only),
                        token.created_at,
                    ),
                )
            except sqlite3.IntegrityError:  # the (site_id, name) key, or the hash
                raise DuplicateTokenError(token.name) from None

    def tokens(self, site_id: str) -> list[ApiToken]:
        rows = self._read(query("tokens"), (site_id,))
        return [ApiToken.from_dict(row) for row in rows]

    def revoke_token(self, site_id: str, name: str) -> bool:
        with self._write() as db:
            cursor = db.execute(query("revoke_token"), (site_id, name))
            return cursor.rowcount == 1

    def find_token(self, token_hash: str) -> ApiToken | None:
        rows = self._read(query("find_token"), (token_hash,))
        return ApiToken.from_dict(rows[0]) if rows else None

    # -- periodic jobs (table conveyor_periodic) ---------------------------------
    def declare_periodic(self, declarations: Sequence[PeriodicDeclaration], *, now: float) -> None:
        with self._write() as db:
            sqlite_periodic.declare(db, declarations, now)

    def claim_tick(self, name: str, tick: float, job: NewJob | None, *, now: float) -> bool:
        with self._write() as db:
            taken = sqlite_periodic.take(db, name, tick, job.id if job else None, now)
            if taken and job is not None:
                self.enqueue([job], now=now)  # the same transaction: both or neither
            return taken

    def periodic_entries(self, prefix: str) -> list[PeriodicEntry]:
        with self._write() as db:
            return sqlite_periodic.entries(db, prefix)

    def set_periodic_enabled(self, name: str, enabled: bool) -> PeriodicEntry | None:
        with self._write() as db:
            sqlite_periodic.set_enabled(db, name, enabled)
            return sqlite_periodic.get(db, name)

    def forget_periodic(self, name: str) -> bool:
        with self._write() as db:
            return sqlite_periodic.forget(db, name)

    # -- paused queues and worker commands (migration 0004) ---------------------
    def set_paused(self, queues: Sequence[str], paused: bool, *, now: float) -> list[str]:
        with self._write() as db:
            return sqlite_control.set_paused(db, queues, paused, now)

    def paused_queues(self, prefix: str) -> list[str]:
        with self._lock, self._translated():
            return sqlite_control.paused_queues(self._db, prefix)

    def command_worker(self, key: str, command: str, *, now: float) -> None:
        with self._write() as db:
            sqlite_control.command_worker(db, key, command, now)

    def worker_control(self, key: str, queues: Sequence[str]) -> WorkerControl:
        with self._lock, self._translated():
            return sqlite_control.worker_control(self._db, key, queues)

    def forget_worker_command(self, key: str) -> None:
        with self._write() as db:
            sqlite_control.forget_worker_command(db, key)

    def close(self) -> None:
        with self._lock:
            self._db.close()
