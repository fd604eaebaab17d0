"""The SQL of the PostgreSQL backend, by name, and what goes in and comes out of it.

Every query lives in ``queries.sql``, under a ``-- name:`` header (see
:mod:`conveyor.backends.sqlfile`). Psycopg errors are translated into
conveyor's here and in the backend class, the seam with the driver.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import DictRow

from conveyor.backends import sqlfile
from conveyor.backends.base import ApiToken, ErrorInfo, JobRecord, NewJob, record_from_row
from conveyor.exceptions import BackendError, BackendUnavailable, DuplicateJobError

Cursor = psycopg.Cursor[DictRow]


@functools.cache
def query(name: str) -> bytes:
    """The query ``name`` of ``queries.sql`` (as bytes: psycopg's type for a query not
    written inline); an unknown name raises :class:`~conveyor.backends.sqlfile.UnknownQuery`."""
    return sqlfile.lookup(__package__ or __name__, "queries.sql", name).encode()


def quote(name: str) -> str:
    """A PostgreSQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def where(params: Mapping[str, Any]) -> str:
    """host:port/dbname, as messages name a server, from libpq connection parameters."""
    host = params.get("host") or params.get("hostaddr") or "the local socket"
    dbname = params.get("dbname") or params.get("user") or ""
    return f"{host}:{params.get('port') or 5432}/{dbname}"


@contextlib.contextmanager
def translated(server: str) -> Iterator[None]:
    """Driver errors become conveyor's: a lost or refused connection is BackendUnavailable."""
    try:
        yield
    except psycopg.OperationalError as exc:
        raise BackendUnavailable(f"PostgreSQL at {server} is unavailable: {exc}") from None
    except psycopg.Error as exc:
        raise BackendError(f"PostgreSQL at {server}: {exc}") from exc


def record(row: DictRow) -> JobRecord:
    """A job record from a row of ``conveyor_jobs``."""
    return record_from_row(
        row,
        meta=row["meta"],
        retry=row["retry"],
        errors=tuple(ErrorInfo.from_dict(e) for e in row["errors"]),
        options=row["options"] or {},
    )


def token(row: DictRow) -> ApiToken:
    """An API token from a row of ``conveyor_tokens``."""
    return ApiToken.from_dict(row)


def store(cur: Cursor, jobs: Sequence[NewJob], now: float, undo: Callable[[], object]) -> None:
    """Insert the jobs in one statement: all of them, or none.

    An id taken by an ended job is reused: on a unique violation ``undo``
    runs first (to end a failed transaction or savepoint), then the ended
    records with the batch's ids are deleted and the insert tried again, in
    a transaction (or savepoint) of their own. An id still taken raises
    DuplicateJobError naming it, and nothing changed.
    """
    seen: set[str] = set()
    for job in jobs:
        if job.id in seen:
            raise DuplicateJobError(job.id)
        seen.add(job.id)
    try:
        _insert(cur, jobs, now)
    except psycopg.errors.UniqueViolation:
        undo()
    else:
        return
    try:
        with cur.connection.transaction():
            cur.execute(query("delete_ended"), {"ids": list(seen)})
            _insert(cur, jobs, now)
    except psycopg.errors.UniqueViolation:
        found = {row["id"] for row in cur.execute(query("existing"), {"ids": list(seen)})}
        taken = next((job.id for job in jobs if job.id in found), jobs[0].id)
        raise DuplicateJobError(taken) from None


def _insert(cur: Cursor, jobs: Sequence[NewJob], now: float) -> None:
    if len(jobs) == 1:
        cur.execute(query("enqueue_one"), _values(jobs[0], now))
    else:
        cur.execute(query("enqueue"), _columns(jobs, now))


#: The array parameters of ``enqueue.sql`` (after ``ids``), each with the name of
#: the scalar that stands for it when every job has the same value.
_SHARED = {
    "queues": "queue",
    "at_front": "at_front_all",
    "funcs": "func",
    "payloads": "payload",
    "titles": "title",
    "descriptions": "description",
    "metas": "meta",
    "timeouts": "timeout",
    "result_ttls": "result_ttl",
    "failure_ttls": "failure_ttl",
    "max_attempts": "max_attempts_all",
    "retries": "retry",
    "created_ats": "created_at",
    "run_ats": "run_at",
    "options": "options_all",
}


def _columns(jobs: Sequence[NewJob], now: float) -> dict[str, Any]:
    """The parameters of ``enqueue.sql``: per column, an array of one value per job,
    or an empty array and the one value every job has (see the query)."""
    arrays: dict[str, list[Any]] = {
        "queues": [job.queue for job in jobs],
        "at_front": [job.at_front for job in jobs],
        "funcs": [job.func for job in jobs],
        "payloads": [bytes(job.payload) for job in jobs],
        "titles": [job.title for job in jobs],
        "descriptions": [job.description for job in jobs],
        "metas": [json.dumps(dict(job.meta)) if job.meta else "{}" for job in jobs],
        "timeouts": [job.timeout for job in jobs],
        "result_ttls": [job.result_ttl for job in jobs],
        "failure_ttls": [job.failure_ttl for job in jobs],
        "max_attempts": [job.max_attempts for job in jobs],
        "retries": [json.dumps(dict(job.retry)) if job.retry else None for job in jobs],
        "created_ats": [float(job.created_at) for job in jobs],
        "run_ats": [None if job.run_at is None else float(job.run_at) for job in jobs],
        "options": [json.dumps(dict(job.options)) if job.options else None for job in jobs],
    }
    params: dict[str, Any] = {"now": float(now), "ids": [job.id for job in jobs]}
    for name, values in arrays.items():
        first = values[0]
        # list.count compares in C; the types within a column are the same (check_new_jobs).
        if values.count(first) == len(values):
            params[name], params[_SHARED[name]] = [], first
        else:
            params[name], params[_SHARED[name]] = values, None
    return params


def _values(job: NewJob, now: float) -> dict[str, Any]:
    """The parameters of ``enqueue_one.sql``."""
    return {
        "now": float(now),
        "id": job.id,
        "queue": job.queue,
        "at_front": job.at_front,
        "func": job.func,
        "payload": bytes(job.payload),
        "title": job.title,
        "description": job.description,
        "meta": json.dumps(dict(job.meta)) if job.meta else "{}",
        "timeout": job.timeout,
        "result_ttl": job.result_ttl,
        "failure_ttl": job.failure_ttl,
        "max_attempts": job.max_attempts,
        "retry": json.dumps(dict(job.retry)) if job.retry else None,
        "created_at": float(job.created_at),
        "run_at": None if job.run_at is None else float(job.run_at),
        "options": json.dumps(dict(job.options)) if job.options else None,
    }
