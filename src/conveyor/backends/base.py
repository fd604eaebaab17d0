"""The backend interface: what a job store must do, in domain terms.

A backend stores job records and moves them between states atomically. Every
operation that must be atomic is one method. Queue names here are the full,
site-prefixed names; the backend knows nothing about sites beyond them.

Time always comes in as an argument (``now``, seconds since the epoch), so
expiry logic is testable without sleeping.

States and the moves between them::

    enqueue ──> queued ──claim──> started ──complete──> finished | failed
                  ^  ^                │ └──complete(retry)──> scheduled ──(due)──┐
                  │  └────────────────┘ release / recover (lease expired)        │
                  └──────────────────────────────────────────────────────────────┘
    enqueue(run_at) ──> scheduled ──(due, or run_now)──> queued
    cancel: queued or scheduled -> deleted; started -> canceled (the lease is revoked)
"""

from __future__ import annotations

import enum
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol, TypeVar

from conveyor import limits
from conveyor.backends.control import ControlStore
from conveyor.backends.periodic import PeriodicStore
from conveyor.limits import storable_text

_Frozen = TypeVar("_Frozen")


class JobState(str, enum.Enum):
    """Where a job is in its life."""

    QUEUED = "queued"
    SCHEDULED = "scheduled"
    STARTED = "started"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELED = "canceled"

    def __str__(self) -> str:
        return self.value


#: States a job never leaves on its own.
ENDED_STATES = frozenset({JobState.FINISHED, JobState.FAILED, JobState.CANCELED})
#: The states a Completion may report.
COMPLETABLE_STATES = frozenset(
    {JobState.FINISHED, JobState.FAILED, JobState.SCHEDULED, JobState.QUEUED}
)


def split_queue_name(queue: str) -> tuple[str, str]:
    """A full queue name's site prefix (``conveyor:<site_id>:``) and its name within the site.

    A name without a site prefix comes back whole, after an empty prefix.
    """
    parts = queue.split(":", 2)
    if len(parts) < 3:
        return "", queue
    return f"{parts[0]}:{parts[1]}:", parts[2]


@dataclass(frozen=True)
class ErrorInfo:
    """What went wrong in one attempt of a job."""

    type: str
    message: str
    traceback: str = ""
    attempt: int = 0
    at: float = 0.0  # when the attempt ended
    started_at: float | None = None  # when it started (None in older records)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "type": self.type,
            "message": self.message,
            "traceback": self.traceback,
            "attempt": self.attempt,
            "at": self.at,
        }
        if self.started_at is not None:
            data["started_at"] = self.started_at
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorInfo:
        started_at = data.get("started_at")
        return cls(
            type=str(data["type"]),
            message=str(data["message"]),
            traceback=str(data.get("traceback", "")),
            attempt=int(data.get("attempt", 0)),
            at=float(data.get("at", 0.0)),
            started_at=None if started_at is None else float(started_at),
        )

    def __post_init__(self) -> None:
        # An error's text comes from the job; a NUL or a lone surrogate in it could not
        # be kept by every store (PostgreSQL's jsonb refuses both), so it is escaped,
        # on every store alike, rather than refused: the failure must be recorded.
        for name in ("type", "message", "traceback"):
            text = getattr(self, name)
            if not text.isascii() or "\x00" in text:
                object.__setattr__(self, name, storable_text(text))


def assemble(cls: type[_Frozen], values: dict[str, Any]) -> _Frozen:
    """An instance of the frozen dataclass ``cls`` holding ``values``, which name every field.

    The same object the generated ``__init__`` makes, less its call to
    ``object.__setattr__`` per field: the hot paths (a record per claimed
    job, a job and a record per enqueued one) build theirs in a quarter of
    the time. Nothing is checked; a test builds each of them both ways.
    """
    instance = object.__new__(cls)
    instance.__dict__.update(values)
    return instance


@dataclass(frozen=True)
class NewJob:
    """A job to be stored, as enqueue() built it.

    ``result_ttl`` and ``failure_ttl`` are how many seconds a finished, or a
    failed or canceled, record is kept after it ended: 0 keeps none (the
    record goes as the job ends), -1 keeps it until it is deleted.

    ``run_at`` (epoch seconds) stores the job as ``scheduled`` until then: the
    workers' claims promote it to the back of its queue when it is due.

    ``options`` holds the options only the worker reads, by name, as JSON
    values: a backend stores and returns them as one opaque object, so a new
    option of that kind touches the API and the worker, never a backend.
    Empty (the usual case) costs a backend nothing.
    """

    id: str
    queue: str
    func: str
    payload: bytes
    created_at: float
    timeout: int
    title: str | None = None
    description: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    result_ttl: int = 86_400
    failure_ttl: int = 604_800
    max_attempts: int = 3
    retry: Mapping[str, Any] | None = None
    at_front: bool = False
    run_at: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobRecord:
    """A stored job, as a backend returns it."""

    id: str
    queue: str
    func: str
    payload: bytes
    state: JobState
    created_at: float
    enqueued_at: float
    timeout: int
    title: str | None = None
    description: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    result_ttl: int = 86_400
    failure_ttl: int = 604_800
    max_attempts: int = 3
    retry: Mapping[str, Any] | None = None
    attempts: int = 0
    run_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    worker: str | None = None
    lease_token: str | None = None
    lease_expires_at: float | None = None
    result: bytes | None = None
    errors: tuple[ErrorInfo, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)  # as NewJob.options

    @property
    def error(self) -> ErrorInfo | None:
        """The error of the latest failed attempt, if any."""
        return self.errors[-1] if self.errors else None

    @classmethod
    def of(cls, job: NewJob, *, state: JobState, enqueued_at: float, **more: Any) -> JobRecord:
        """The record a backend stores for ``job``, without asking it (``more`` adds fields)."""
        if not more.keys() <= _RECORD_ONLY:
            raise TypeError(f"JobRecord has no field(s) {sorted(more.keys() - _RECORD_ONLY)}")
        values = job.__dict__.copy()
        del values["at_front"]
        values.update(_RECORD_DEFAULTS)
        values["state"] = state
        values["enqueued_at"] = enqueued_at
        if more:
            values.update(more)
        return assemble(cls, values)


class Row(Protocol):
    """A row read by column name: the SQL backends' rows (or a dict)."""

    def __getitem__(self, column: str, /) -> Any: ...


def record_from_row(
    row: Row,
    *,
    meta: Mapping[str, Any],
    retry: Mapping[str, Any] | None,
    errors: tuple[ErrorInfo, ...],
    options: Mapping[str, Any],
) -> JobRecord:
    """The record in a row of the SQL backends' jobs table, whose columns are its fields.

    The JSON columns come decoded by the caller: SQLite keeps them as text,
    PostgreSQL as ``jsonb``, which its driver decodes.
    """
    return assemble(
        JobRecord,
        {
            "id": row["id"],
            "queue": row["queue"],
            "func": row["func"],
            "payload": bytes(row["payload"]),
            "state": JobState(row["state"]),
            "created_at": row["created_at"],
            "enqueued_at": row["enqueued_at"],
            "timeout": row["timeout"],
            "title": row["title"],
            "description": row["description"],
            "meta": meta,
            "result_ttl": row["result_ttl"],
            "failure_ttl": row["failure_ttl"],
            "max_attempts": row["max_attempts"],
            "retry": retry,
            "attempts": row["attempts"],
            "run_at": row["run_at"],
            "started_at": row["started_at"],
            "ended_at": row["ended_at"],
            "worker": row["worker"],
            "lease_token": row["lease_token"],
            "lease_expires_at": row["lease_expires_at"],
            "result": None if row["result"] is None else bytes(row["result"]),
            "errors": errors,
            "options": options,
        },
    )


# What JobRecord.of() adds to a NewJob's fields: the record's own, at their defaults.
# ``state`` and ``enqueued_at`` have no default; of() always sets them.
_RECORD_ONLY = {f.name for f in fields(JobRecord)} - {f.name for f in fields(NewJob)}
_RECORD_DEFAULTS = {
    f.name: f.default
    for f in fields(JobRecord)
    if f.name in _RECORD_ONLY and f.default is not MISSING
}


@dataclass(frozen=True)
class Completion:
    """The outcome of one claimed job, reported by the worker holding its lease.

    ``state`` is FINISHED (with ``result``), FAILED (with ``error``),
    SCHEDULED (a retry at ``run_at``, with ``error``) or QUEUED (the job is
    put back untouched, e.g. at a cold shutdown; its attempt is not counted).
    An ``error`` is appended to the job's history; an outcome without one
    adds nothing. ``started_at``, when given, replaces the claim time as the
    job's start: a job claimed ahead starts later than it was claimed.
    ``count_attempt=False`` (SCHEDULED only) gives the attempt back, as a
    release does: the job's code could not be imported, so it never ran.
    """

    job_id: str
    token: str
    state: JobState
    result: bytes | None = None
    error: ErrorInfo | None = None
    run_at: float | None = None
    started_at: float | None = None
    count_attempt: bool = True


def check_new_jobs(jobs: Iterable[NewJob]) -> None:
    """Refuse, before anything is stored, a job whose numbers some store cannot hold.

    The API checks every option (conveyor.limits); a backend called directly
    checks again, so that a value no store can keep (a retention too long
    for Redis's PEXPIRE, a timeout beyond PostgreSQL's integer) is refused
    up front, identically on every store, and never fails a later write
    partway through a batch.
    """
    most = limits.MAX_SECONDS
    for job in jobs:
        # The usual case in one expression (enqueue is a hot path); the checks
        # below only run to name what is wrong.
        timeout, kept, failed_kept, runs = (
            job.timeout,
            job.result_ttl,
            job.failure_ttl,
            job.max_attempts,
        )
        if (
            type(timeout) is int
            and (timeout == -1 or 1 <= timeout <= most)
            and type(kept) is int
            and -1 <= kept <= most
            and type(failed_kept) is int
            and -1 <= failed_kept <= most
            and type(runs) is int
            and 1 <= runs <= limits.MAX_ATTEMPTS
            and job.run_at is None
        ):
            continue
        if job.timeout != -1:
            limits.check_count("timeout", job.timeout, 1, limits.MAX_SECONDS)
        limits.check_ttl("result_ttl", job.result_ttl, 0)
        limits.check_ttl("failure_ttl", job.failure_ttl, 0)
        limits.check_count("max_attempts", job.max_attempts, 1, limits.MAX_ATTEMPTS)
        if job.run_at is not None:
            limits.check_run_at(job.run_at, job.created_at)


def lease_tokens(count: int) -> list[str]:
    """``count`` fresh lease tokens: 8 random bytes each, in hex, as ``secrets.token_hex(8)``.

    One read of the system's random source for them all (a claim makes one a
    job it may take: on the hot path, one system call a token was measurable).
    """
    digits = secrets.token_hex(8 * count)
    return [digits[i : i + 16] for i in range(0, 16 * count, 16)]


def check_completions(completions: Iterable[Completion]) -> None:
    """Refuse, before anything is recorded, an outcome no claimed job can have.

    A job is never completed as started or canceled: such a Completion is a
    bug in its caller, so it raises ValueError rather than answer False.
    """
    for done in completions:
        if done.state not in COMPLETABLE_STATES:
            raise ValueError(f"A job cannot be completed as {done.state}")


@dataclass(frozen=True)
class Page:
    """One page of a job listing, with the total that matched."""

    items: tuple[JobRecord, ...]
    total: int


#: How long the per-minute statistics (:meth:`Backend.stats`) are kept: 48 hours.
STATS_RETENTION = 48 * 3600


@dataclass(frozen=True)
class MinuteStats:
    """What ended in one queue in one minute, as the store keeps it for the dashboard's charts.

    ``minute`` is the minute's start (epoch seconds, a multiple of 60).
    ``finished`` and ``failed`` count the jobs that ended so in it (failed:
    attempts spent, including a lost worker's job that had no attempt
    left); the waits (enqueue to start) and runs (start to end) of those
    jobs are summed in seconds, with how many were summed.
    """

    queue: str
    minute: int
    finished: int = 0
    failed: int = 0
    wait_sum: float = 0.0
    wait_count: int = 0
    run_sum: float = 0.0
    run_count: int = 0


def minute_of(moment: float) -> int:
    """The number of the minute holding ``moment`` (epoch seconds // 60)."""
    return int(moment // 60)


@dataclass(frozen=True)
class Recovery:
    """What recover() did with one job whose lease had expired."""

    job_id: str
    queue: str
    state: JobState  # QUEUED (retried) or FAILED (attempts spent)
    attempts: int


@dataclass(frozen=True)
class WorkerInfo:
    """A live worker, as it registers itself at every heartbeat."""

    key: str
    queues: tuple[str, ...]  # full names, in claim order
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    concurrency: int = 1
    jobs: tuple[str, ...] = ()  # ids of the jobs it is running
    finished: int = 0  # jobs finished
    failed: int = 0  # jobs failed for good
    state: str = "idle"  # idle, busy, quiet or stopping
    retried: int = 0  # attempts failed and tried again
    name: str = ""  # how its log lines name it

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "queues": list(self.queues),
            "host": self.host,
            "pid": self.pid,
            "started_at": self.started_at,
            "heartbeat_at": self.heartbeat_at,
            "concurrency": self.concurrency,
            "jobs": list(self.jobs),
            "finished": self.finished,
            "failed": self.failed,
            "state": self.state,
            "retried": self.retried,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkerInfo:
        return cls(
            key=str(data["key"]),
            queues=tuple(data["queues"]),
            host=str(data["host"]),
            pid=int(data["pid"]),
            started_at=float(data["started_at"]),
            heartbeat_at=float(data["heartbeat_at"]),
            concurrency=int(data.get("concurrency", 1)),
            jobs=tuple(data.get("jobs", ())),
            finished=int(data.get("finished", 0)),
            failed=int(data.get("failed", 0)),
            state=str(data.get("state", "idle")),
            retried=int(data.get("retried", 0)),
            name=str(data.get("name", "")),
        )

    def serves(self, prefix: str) -> bool:
        """Whether the worker claims from a queue whose name starts with ``prefix`` (a site's)."""
        return any(queue.startswith(prefix) for queue in self.queues)


@dataclass(frozen=True)
class ApiToken:
    """A web API token as stored: its hash, never the token itself.

    ``site_id`` scopes it: a token opens only the web API of the site it was
    created for, and names are unique within a site.
    """

    name: str
    hash: str  # hex SHA-256 of the token
    read_only: bool
    created_at: float
    site_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hash": self.hash,
            "read_only": self.read_only,
            "created_at": self.created_at,
            "site_id": self.site_id,
        }

    @classmethod
    def from_dict(cls, data: Row) -> ApiToken:
        """The token in a mapping, or a row read by column name, holding its fields."""
        return cls(
            name=str(data["name"]),
            hash=str(data["hash"]),
            read_only=bool(data["read_only"]),
            created_at=float(data["created_at"]),
            site_id=str(data["site_id"]),
        )


#: One queue's share of a listing: given how many to skip and how many are
#: wanted (None: all), the queue's total and that window of its jobs.
QueuePage = Callable[[str, int, "int | None"], tuple[int, Iterable[JobRecord]]]


def page_across(queues: Sequence[str], offset: int, limit: int | None, page_of: QueuePage) -> Page:
    """One page of the listings of several queues, one after the other, with the total.

    ``page_of`` is asked for every queue (for its count, which a backend
    takes from the counts it keeps, never by counting records) and returns
    no jobs once the page is full or its jobs lie before ``offset``.
    """
    items: list[JobRecord] = []
    total = 0
    for queue in queues:
        skip = max(offset - total, 0)
        wanted = None if limit is None else limit - len(items)
        count, found = page_of(queue, skip, wanted)
        total += count
        items.extend(found)
    return Page(items=tuple(items), total=total)


class Backend(PeriodicStore, ControlStore, ABC):
    """A job store. One instance belongs to one process; never share it across a fork.

    Its periodic-job operations are declared in :class:`~conveyor.backends.periodic.PeriodicStore`;
    pausing queues and commanding workers in :class:`~conveyor.backends.control.ControlStore`.
    """

    #: Whether a busy worker should send its ``complete_and_claim`` calls to a
    #: helper thread and go on handing out jobs meanwhile (conveyor.worker.inflight):
    #: worth it where the store's own work on a batch takes milliseconds (PostgreSQL),
    #: a loss where the call is quick or runs in the worker's process (measured in
    #: docs/decisions.md, "A busy worker claims on a helper thread on PostgreSQL").
    claims_in_background: bool = False

    @classmethod
    @abstractmethod
    def from_url(cls, url: str, base_dir: Path | None = None) -> Backend:
        """A backend for ``url``, whose scheme is one registered for this class.

        A relative path in the URL resolves against ``base_dir`` (default:
        the current directory). A malformed URL or option raises ConfigError;
        a store that cannot be reached, BackendUnavailable.
        """

    # -- producing -------------------------------------------------------
    @abstractmethod
    def enqueue(self, jobs: Sequence[NewJob], *, now: float) -> None:
        """Store the jobs as queued (or scheduled, those with a ``run_at``), all or none.

        An id whose job has ended (finished, failed, canceled) is reused: the
        old record is replaced, as RQ does. An id that is queued, scheduled or
        started, or repeats within ``jobs``, raises DuplicateJobError naming
        it, and nothing is stored (nor replaced).
        """

    # -- consuming -------------------------------------------------------
    @abstractmethod
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
        """Take up to ``limit`` queued jobs, leftmost queue first, FIFO within one.

        Each returned job is ``started``, owned by ``worker`` with a fresh
        ``lease_token`` expiring at ``now + lease``, and its ``attempts``
        counted. Due scheduled jobs are promoted first. When nothing is
        ready, wait up to ``wait`` seconds for a job to arrive.
        """

    @abstractmethod
    def complete(self, completions: Sequence[Completion], *, now: float) -> list[bool]:
        """Record outcomes; False for each whose token no longer holds the lease."""

    def complete_and_claim(
        self,
        completions: Sequence[Completion],
        queues: Sequence[str],
        *,
        worker: str,
        lease: float,
        now: float,
        limit: int,
        wait: float = 0.0,
    ) -> tuple[list[bool], list[JobRecord]]:
        """``complete(completions)`` then ``claim(...)``: one round trip where a backend can.

        The outcomes are recorded before any waiting for new jobs. A backend
        that can do both at once implements ``_complete_then_claim``; when that
        claims nothing and ``wait`` allows, a blocking ``claim`` follows.
        """
        if completions and queues and limit > 0:
            together = self._complete_then_claim(
                completions, queues, worker=worker, lease=lease, now=now, limit=limit, wait=wait
            )
            if together is not None:
                accepted, claimed = together
                if claimed or wait <= 0:
                    return accepted, claimed
                return accepted, self.claim(
                    queues, worker=worker, lease=lease, now=now, limit=limit, wait=wait
                )
        accepted = self.complete(completions, now=now) if completions else []
        claimed = (
            self.claim(queues, worker=worker, lease=lease, now=now, limit=limit, wait=wait)
            if limit > 0
            else []
        )
        return accepted, claimed

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
        """Record ``completions`` and claim up to ``limit`` jobs in one round trip,
        without waiting (``wait`` is what the caller will wait next, for a backend
        that must prepare for it). None: this backend cannot, do them one by one."""
        del completions, queues, worker, lease, now, limit, wait
        return None

    @abstractmethod
    def extend(self, leases: Sequence[tuple[str, str]], *, lease: float, now: float) -> list[bool]:
        """Push back the expiry of (job id, token) leases; False where the lease is lost."""

    @abstractmethod
    def save_meta(self, job_id: str, meta: Mapping[str, Any], *, token: str | None = None) -> bool:
        """Replace a job's ``meta`` (a JSON-ready dict); whether it was saved.

        With ``token``, as a running job saves its own meta (through its
        supervisor): only while that token holds the job's lease, so a job
        canceled, taken over or ended is refused (False). Without, as RQ's
        ``save_meta()`` from any other process: any stored job, in any state.
        False for an unknown job. Nothing else in the record changes.
        """

    @abstractmethod
    def recover(self, *, now: float) -> list[Recovery]:
        """Requeue (or fail, when attempts are spent) jobs whose lease expired before ``now``.

        The lost attempt stays counted and a ``WorkerLost`` error is appended.
        """

    @abstractmethod
    def purge(self, *, now: float) -> int:
        """Delete ended records whose retention has passed; how many went.

        Entries of workers whose registration expired go too, and the
        per-minute statistics older than :data:`STATS_RETENTION`.

        Finished records are kept ``result_ttl`` seconds after they ended,
        failed and canceled ones ``failure_ttl``.
        """

    # -- managing --------------------------------------------------------
    @abstractmethod
    def get(self, job_id: str) -> JobRecord | None:
        """The record of one job, or None."""

    @abstractmethod
    def list_jobs(
        self,
        queues: Sequence[str],
        *,
        states: Sequence[JobState] = (JobState.QUEUED,),
        offset: int = 0,
        limit: int | None = None,
    ) -> Page:
        """Jobs of the given queues and states.

        Ordered queue by queue as given; within a queue state by state:
        queued jobs in the order they will be claimed, then scheduled ones by
        due time, started ones by start, and ended ones most recent first.
        ``total`` counts every match, whatever ``offset`` and ``limit``.
        """

    @abstractmethod
    def queue_names(self, prefix: str) -> list[str]:
        """Names of the queues starting with ``prefix`` that hold any job record, sorted."""

    @abstractmethod
    def count(self, queues: Sequence[str]) -> dict[str, dict[JobState, int]]:
        """Per queue, the number of records in each state (states with none omitted).

        Exact, and answered from counts the store keeps with every change of
        state (or from its indexes' sizes), never by counting job records:
        its cost does not grow with the number of jobs.
        """

    @abstractmethod
    def stats(self, prefix: str, *, since: float, until: float) -> list[MinuteStats]:
        """The per-minute statistics of the queues starting with ``prefix`` (a site's), from
        the minute of ``since`` to that of ``until``: one entry per queue and minute in which
        any job ended finished or failed, ordered by queue, then minute. A queue counts
        whether or not it still holds any job record.

        The store adds to them in the same transaction (or script) that ends
        a job, and keeps them :data:`STATS_RETENTION` seconds (``purge()``
        drops older minutes), whatever the retention of the job records.
        """

    @abstractmethod
    def cancel(self, job_id: str, *, now: float) -> JobRecord | None:
        """Cancel one job and return its record as it was, or None if unknown.

        A queued or scheduled job is deleted; a started job becomes canceled
        and loses its lease (its worker stops it at the next heartbeat). An
        ended job raises JobStateError and is left alone.
        """

    @abstractmethod
    def delete(self, job_id: str, *, now: float) -> JobRecord | None:
        """Delete one job's record, whatever its state; the record as it was, or None.

        RQ's ``Job.delete()``. A started job loses its lease with its record:
        its worker stops it at the next heartbeat, as for a cancel.
        """

    @abstractmethod
    def clear(self, queues: Sequence[str], *, now: float) -> dict[str, int]:
        """Delete every queued and scheduled job of the queues; the count per queue."""

    @abstractmethod
    def requeue(self, job_ids: Sequence[str], *, now: float) -> list[str]:
        """Put failed or canceled jobs back at the end of their queue; the ids moved.

        Each moved job gets a fresh attempt count (its error history stays)
        and loses its result, end time and retention; ids in other states, or
        unknown, are left alone and not returned.
        """

    @abstractmethod
    def run_now(self, job_ids: Sequence[str], *, now: float) -> list[str]:
        """Make scheduled jobs due at once: each goes to the back of its queue, as a
        claim promotes a job whose time has come, and idle workers of that queue
        wake for it. The ids moved, in the order given.

        The job keeps its attempts and errors (a retry waiting out its backoff
        runs as that same attempt would have); only its ``run_at`` goes. Ids in
        any other state, unknown, or given twice are left alone and not
        returned (twice: moved once).
        """

    def wait_ended(self, job_id: str, *, timeout: float | None) -> JobRecord | None:
        """Block until the job has ended, or ``timeout`` seconds (None: no limit) passed.

        The record as last seen: ended, or not yet (the time ran out), or None
        when it is gone (deleted, canceled while queued, or not kept). This
        default looks with a growing interval (5 ms up to half a second); a
        backend with notifications wakes on them instead.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        while True:
            record = self.get(job_id)
            if record is None or record.state in ENDED_STATES:
                return record
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return record
            time.sleep(delay if remaining is None else min(delay, remaining))
            delay = min(delay * 2, 0.5)

    # -- workers -----------------------------------------------------------
    @abstractmethod
    def register_worker(self, info: WorkerInfo, *, ttl: float, now: float) -> None:
        """Record or refresh a live worker; it counts as gone ``ttl`` seconds after ``now``."""

    @abstractmethod
    def unregister_worker(self, key: str) -> None:
        """Forget a worker that stopped."""

    @abstractmethod
    def workers(self, prefix: str, *, now: float) -> list[WorkerInfo]:
        """Live workers serving a queue that starts with ``prefix``, oldest first."""

    # -- web API tokens ----------------------------------------------------
    @abstractmethod
    def save_token(self, token: ApiToken) -> None:
        """Store a new token; DuplicateTokenError if its site has one of that name already."""

    @abstractmethod
    def tokens(self, site_id: str) -> list[ApiToken]:
        """The tokens of one site, sorted by name."""

    @abstractmethod
    def revoke_token(self, site_id: str, name: str) -> bool:
        """Delete a site's token by name; False if it had none of that name."""

    @abstractmethod
    def find_token(self, token_hash: str) -> ApiToken | None:
        """The token with this hash, whichever its site, or None."""

    # -- lifecycle -------------------------------------------------------
    def close(self) -> None:  # an optional hook: most backends hold one connection
        """Release connections. The instance is not used afterwards."""
