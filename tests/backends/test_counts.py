"""The kept counts (migration 0005, Redis's index sizes) against a count of the stored rows.

A hypothesis state machine drives random sequences of every move a job can
make on each store, and after each step compares ``count()`` and the
listings' totals with a recount made behind the backend's back: SQL
``COUNT(*)`` over the jobs table, or every job hash in Redis. Each example
uses queues of its own, so examples share one store without seeing each
other.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

import conveyor
from conveyor.backends import Backend, open_backend
from conveyor.backends.base import Completion, ErrorInfo, JobState, NewJob
from conveyor.backends.sqlite import SQLiteBackend
from conveyor.exceptions import DuplicateJobError, JobStateError

Counts = dict[str, dict[JobState, int]]
Recount = Callable[[list[str]], Counts]
LEASE = 30.0


def tallied(rows: Iterator[tuple[str, str]] | list[tuple[str, str]], queues: list[str]) -> Counts:
    found: Counts = {queue: {} for queue in queues}
    for queue, state in rows:
        if queue in found:
            per_state = found[queue]
            per_state[JobState(state)] = per_state.get(JobState(state), 0) + 1
    return found


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[Backend, Recount]]:
    path = tmp_path / "counts.sqlite3"
    store = SQLiteBackend(path)
    reader = sqlite3.connect(path)

    def recount(queues: list[str]) -> Counts:
        marks = ",".join("?" * len(queues))
        rows = reader.execute(
            f"SELECT queue, state FROM conveyor_jobs WHERE queue IN ({marks})", queues
        ).fetchall()
        return tallied(rows, queues)

    yield store, recount
    reader.close()
    store.close()


@pytest.fixture
def postgresql_store(postgresql_url: str) -> Iterator[tuple[Backend, Recount]]:
    psycopg = pytest.importorskip("psycopg")
    server, _, schema = postgresql_url.partition("?schema=")
    store = open_backend(postgresql_url)
    reader = psycopg.connect(server, autocommit=True)

    def recount(queues: list[str]) -> Counts:
        rows = reader.execute(
            f'SELECT queue, state FROM "{schema}".conveyor_jobs WHERE queue = ANY(%s)', [queues]
        ).fetchall()
        return tallied(rows, queues)

    yield store, recount
    reader.close()
    store.close()


@pytest.fixture
def redis_store(redis_url: str) -> Iterator[tuple[Backend, Recount]]:
    redis = pytest.importorskip("redis")
    namespace = redis_url.rpartition("namespace=")[2]
    store = open_backend(redis_url)
    reader = redis.Redis(host="127.0.0.1", port=6379, decode_responses=True)

    def recount(queues: list[str]) -> Counts:
        keys = list(reader.scan_iter(match=f"{namespace}:job:*", count=1000))
        pipe = reader.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, ["queue", "state"])
        rows = [(queue, state) for queue, state in pipe.execute() if queue is not None]
        return tallied(rows, queues)

    yield store, recount
    reader.close()
    store.close()


class JobMoves(RuleBasedStateMachine):
    """Random moves of jobs on one store, with the counts checked after each."""

    store: Backend
    recount: Recount

    def __init__(self) -> None:
        super().__init__()
        site = f"conveyor:sm{uuid.uuid4().hex[:10]}:"
        self.queues = [site + "a", site + "b"]
        self.now = 1_800_000_000.0
        self.ids: list[str] = []
        self.held: dict[str, str] = {}  # job id -> lease token, for jobs claimed here

    def _id(self) -> str:
        job_id = uuid.uuid4().hex[:12]
        self.ids.append(job_id)
        return job_id

    @rule(
        queue=st.integers(0, 1),
        many=st.integers(1, 4),
        later=st.booleans(),
        kept=st.sampled_from([0, 50, 86_400]),
        front=st.booleans(),
    )
    def enqueue(self, queue: int, many: int, later: bool, kept: int, front: bool) -> None:
        jobs = [
            NewJob(
                id=self._id(),
                queue=self.queues[queue],
                func="conveyor_test_jobs:succeed",
                payload=b"p",
                created_at=self.now,
                timeout=60,
                result_ttl=kept,
                failure_ttl=kept,
                max_attempts=2,
                at_front=front and not later,
                run_at=self.now + 20 if later else None,
            )
            for _ in range(many)
        ]
        self.store.enqueue(jobs, now=self.now)

    @rule(data=st.data())
    def reuse_an_id(self, data: st.DataObject) -> None:
        """An ended job's id enqueued again replaces its record; a live one is refused."""
        if not self.ids:
            return
        job_id = data.draw(st.sampled_from(self.ids))
        job = NewJob(id=job_id, queue=self.queues[0], func="m:f", payload=b"p",
                     created_at=self.now, timeout=60)  # fmt: skip
        with contextlib.suppress(DuplicateJobError):  # a live job's id: nothing changes
            self.store.enqueue([job], now=self.now)

    @rule(limit=st.integers(1, 3))
    def claim(self, limit: int) -> None:
        claimed = self.store.claim(self.queues, worker="w", lease=LEASE, now=self.now, limit=limit)
        for record in claimed:
            assert record.lease_token is not None
            self.held[record.id] = record.lease_token

    @rule(data=st.data(), state=st.sampled_from(sorted(JobState, key=str)))
    def complete(self, data: st.DataObject, state: JobState) -> None:
        if not self.held or state not in {
            JobState.FINISHED,
            JobState.FAILED,
            JobState.SCHEDULED,
            JobState.QUEUED,
        }:
            return
        job_id = data.draw(st.sampled_from(sorted(self.held)))
        token = self.held.pop(job_id)
        error = None if state is JobState.FINISHED else ErrorInfo("E", "boom", at=self.now)
        done = Completion(job_id, token, state, result=b"r", error=error, run_at=self.now + 5)
        self.store.complete([done], now=self.now)  # refused (False) when the lease was lost

    @rule(data=st.data(), delete=st.booleans())
    def cancel_or_delete(self, data: st.DataObject, delete: bool) -> None:
        if not self.ids:
            return
        job_id = data.draw(st.sampled_from(self.ids))
        if delete:
            self.store.delete(job_id, now=self.now)
            return
        with contextlib.suppress(JobStateError):  # an ended job, left alone
            self.store.cancel(job_id, now=self.now)

    @rule(queue=st.integers(0, 1))
    def clear(self, queue: int) -> None:
        self.store.clear([self.queues[queue]], now=self.now)

    @rule(data=st.data())
    def requeue(self, data: st.DataObject) -> None:
        if self.ids:
            self.store.requeue(data.draw(st.lists(st.sampled_from(self.ids))), now=self.now)

    @rule(seconds=st.sampled_from([1, 10, 40, 100]))
    def time_passes(self, seconds: int) -> None:
        self.now += seconds

    @rule()
    def recover(self) -> None:
        self.store.recover(now=self.now)

    @rule()
    def purge(self) -> None:
        self.store.purge(now=self.now)

    @invariant()
    def counts_match_the_rows(self) -> None:
        expected = self.recount(self.queues)
        assert self.store.count(self.queues) == expected
        for queue in self.queues:
            for state in JobState:
                page = self.store.list_jobs([queue], states=[state], limit=0)
                assert page.total == expected[queue].get(state, 0), (queue, state)


def run_moves(store: Backend, recount: Recount, examples: int) -> None:
    class Moves(JobMoves):
        pass

    Moves.store = store
    Moves.recount = staticmethod(recount)  # type: ignore[assignment]
    run_state_machine_as_test(
        Moves,
        settings=settings(
            max_examples=examples,
            stateful_step_count=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_sqlite_counts_match_the_rows_through_random_moves(
    sqlite_store: tuple[Backend, Recount],
) -> None:
    run_moves(*sqlite_store, examples=40)


def test_postgresql_counts_match_the_rows_through_random_moves(
    postgresql_store: tuple[Backend, Recount],
) -> None:
    run_moves(*postgresql_store, examples=25)


def test_redis_counts_match_the_rows_through_random_moves(
    redis_store: tuple[Backend, Recount],
) -> None:
    run_moves(*redis_store, examples=25)


def test_postgresql_folds_count_changes_without_changing_the_counts(
    postgresql_store: tuple[Backend, Recount],
) -> None:
    """Changes pile up as delta rows; purge() folds them into the kept counts, exactly."""
    store, recount = postgresql_store
    queue = "conveyor:fold:q"
    for n in range(30):
        store.enqueue([NewJob(id=f"j{n}", queue=queue, func="m:f", payload=b"p",
                              created_at=0.0, timeout=60)], now=1.0)  # fmt: skip
    store.claim([queue], worker="w", lease=LEASE, now=1.0, limit=7)
    before = store.count([queue])
    assert before == recount([queue]) == {queue: {JobState.QUEUED: 23, JobState.STARTED: 7}}
    changes = postgresql_rows(store, "SELECT count(*) FROM conveyor_count_changes")
    assert changes >= 31  # one row per statement and (queue, state) it changed
    store.purge(now=2.0)
    assert postgresql_rows(store, "SELECT count(*) FROM conveyor_count_changes") == 0
    assert store.count([queue]) == before


def postgresql_rows(store: Backend, text: str) -> int:
    conn = store._connection()  # type: ignore[attr-defined]
    row = conn.execute(text).fetchone()
    return int(row["count"])


# -- Per-minute statistics: retention, and the dashboard's charts ----------------------------


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def any_store(request: pytest.FixtureRequest) -> tuple[Backend, Recount]:
    found: tuple[Backend, Recount] = request.getfixturevalue(f"{request.param}_store")
    return found


def finish(store: Backend, queue: str, job_id: str, now: float, *, kept: int = 86_400) -> None:
    job = NewJob(id=job_id, queue=queue, func="m:f", payload=b"p", created_at=now - 3,
                 timeout=60, result_ttl=kept)  # fmt: skip
    store.enqueue([job], now=now - 3)
    [record] = store.claim([queue], worker="w", lease=LEASE, now=now - 1)
    done = Completion(job_id, record.lease_token or "", JobState.FINISHED, result=b"r")
    assert store.complete([done], now=now) == [True]


def test_statistics_are_kept_for_the_retention_and_then_dropped(
    any_store: tuple[Backend, Recount],
) -> None:
    from conveyor.backends.base import STATS_RETENTION

    store, _ = any_store
    now = time.time()
    finish(store, "conveyor:kept:q", "j", now)
    assert [m.finished for m in store.stats("conveyor:kept:", since=now - 60, until=now)] == [1]
    if type(store).__name__ == "RedisBackend":  # a hash that Redis expires itself
        client = store._redis  # type: ignore[attr-defined]
        [key] = client.keys(f"{store.ns}:stats:*")  # type: ignore[attr-defined]
        assert STATS_RETENTION - 60 < client.ttl(key) <= STATS_RETENTION
        return
    store.purge(now=now + STATS_RETENTION - 120)
    assert len(store.stats("conveyor:kept:", since=now - 60, until=now)) == 1
    store.purge(now=now + STATS_RETENTION + 120)
    assert store.stats("conveyor:kept:", since=now - 60, until=now) == []


def test_the_dashboard_charts_count_jobs_whose_records_are_gone(
    any_store: tuple[Backend, Recount], monkeypatch: pytest.MonkeyPatch
) -> None:
    from conveyor.web import dashboard_data

    store, _ = any_store
    site = conveyor.config.current().queue_prefix
    now = (time.time() // 3600) * 3600 + 1800  # mid-hour: the last minutes stay in this hour
    for n in range(3):
        finish(store, site + "charts", f"gone{n}", now - 120, kept=0)
    finish(store, site + "charts", "kept", now - 60)
    monkeypatch.setattr(dashboard_data, "backend", lambda config=None: store)
    hour, day = dashboard_data.charts(now)
    assert [bar.finished for bar in hour.bars][-3:] == [3, 1, 0]
    assert [bar.wait for bar in hour.bars][-3:-1] == [2.0, 2.0]  # enqueued 3 s, started 1 s before
    assert day.bars[-1].finished == 4
    assert store.get("gone0") is None
