"""The backend conformance suite: what "a backend works" means, as tests.

:class:`BackendConformance` is a mixin of pytest tests that exercise the
interface in :mod:`conveyor.backends.base` and nothing else, so it runs
unchanged against every backend. A backend's test class subclasses it and
provides two fixtures: ``backend``, a fresh instance on an empty store, and
``other_backend``, a second instance on the same store, as another process
would open it.

Time is passed in as ``now`` (a frozen clock), so no test sleeps; the only
wall-clock waits are the ones the tests of ``claim(wait=...)`` are about.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from conveyor.backends.base import (
    ApiToken,
    Backend,
    Completion,
    ErrorInfo,
    JobRecord,
    JobState,
    NewJob,
    Page,
    Recovery,
    WorkerInfo,
)
from conveyor.exceptions import DuplicateJobError, DuplicateTokenError, JobStateError

NOW = 1_700_000_000.0
LEASE = 30.0
WORKER = "host:1234:conformance"
QUEUE = "conveyor:conformance:default"
OTHER_QUEUE = "conveyor:conformance:other"
THIRD_QUEUE = "conveyor:conformance:third"
ALL_STATES = tuple(JobState)
NOT_THE_LEASE = "a lease token nobody was given"


def new_job(job_id: str, queue: str = QUEUE, **changes: Any) -> NewJob:
    """A small job to store; ``changes`` override any NewJob field."""
    job = NewJob(
        id=job_id,
        queue=queue,
        func="conveyor_test_jobs:succeed",
        payload=b"payload of " + job_id.encode(),
        created_at=NOW - 1,
        timeout=180,
    )
    return dataclasses.replace(job, **changes)


def error(message: str, attempt: int = 1, at: float = NOW) -> ErrorInfo:
    """An error as a worker reports it."""
    return ErrorInfo(
        type="RuntimeError",
        message=message,
        traceback=f'Traceback (most recent call last):\nRuntimeError: "{message}"\n',
        attempt=attempt,
        at=at,
    )


def ids(records: Sequence[JobRecord] | Page) -> list[str]:
    """The ids of some records (or of a page's items), in order."""
    items = records.items if isinstance(records, Page) else records
    return [record.id for record in items]


def claim_one(
    backend: Backend, queues: Sequence[str] = (QUEUE,), now: float = NOW, worker: str = WORKER
) -> JobRecord:
    """Claim exactly one job, failing the test if there is none."""
    claimed = backend.claim(queues, worker=worker, lease=LEASE, now=now)
    assert len(claimed) == 1, f"expected one claimed job, got {ids(claimed)}"
    return claimed[0]


def drain(backend: Backend, queues: Sequence[str], now: float = NOW) -> list[str]:
    """Claim jobs one at a time until none is left; their ids in claim order."""
    claimed: list[str] = []
    while records := backend.claim(queues, worker=WORKER, lease=LEASE, now=now):
        claimed.extend(ids(records))
    return claimed


def outcome(record: JobRecord, state: JobState, **fields: Any) -> Completion:
    """The completion of a claimed record, holding its lease."""
    assert record.lease_token is not None
    return Completion(job_id=record.id, token=record.lease_token, state=state, **fields)


def complete(backend: Backend, done: Completion, now: float) -> None:
    """Record one outcome, failing the test if the backend refuses it."""
    assert backend.complete([done], now=now) == [True]


def stored(backend: Backend, job_id: str) -> JobRecord:
    """The record of a job that must exist."""
    record = backend.get(job_id)
    assert record is not None, f"job {job_id} is not stored"
    return record


def run_in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    """Start ``target`` in a thread; the list collects what it raised."""
    raised: list[BaseException] = []

    def guarded() -> None:
        try:
            target()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=guarded, daemon=True)
    thread.start()
    return thread, raised


class EnqueueConformance:
    """Storing jobs."""

    def test_enqueued_job_is_stored_as_queued_with_every_field(self, backend: Backend) -> None:
        job = new_job(
            "job-1",
            payload=b"\x00\xff binary payload",
            title="A title",
            description="What it does",
            meta={"owner": "alice", "tags": ["a", "b"], "nested": {"n": 1}},
            timeout=3600,
            result_ttl=100,
            failure_ttl=200,
            max_attempts=5,
            retry={"delays": [1, 10, 60]},
        )
        backend.enqueue([job], now=NOW)
        record = stored(backend, "job-1")
        assert record == JobRecord(
            id="job-1",
            queue=QUEUE,
            func="conveyor_test_jobs:succeed",
            payload=b"\x00\xff binary payload",
            state=JobState.QUEUED,
            created_at=NOW - 1,
            enqueued_at=NOW,
            timeout=3600,
            title="A title",
            description="What it does",
            meta={"owner": "alice", "tags": ["a", "b"], "nested": {"n": 1}},
            result_ttl=100,
            failure_ttl=200,
            max_attempts=5,
            retry={"delays": [1, 10, 60]},
        )

    def test_enqueue_many_stores_every_job(self, backend: Backend) -> None:
        backend.enqueue(
            [new_job("a1"), new_job("b1", OTHER_QUEUE), new_job("a2")],
            now=NOW,
        )
        assert ids(backend.list_jobs([QUEUE, OTHER_QUEUE])) == ["a1", "a2", "b1"]
        assert stored(backend, "b1").queue == OTHER_QUEUE

    def test_enqueue_of_an_existing_id_raises_and_stores_nothing(self, backend: Backend) -> None:
        backend.enqueue([new_job("taken", title="first")], now=NOW)
        before = stored(backend, "taken")
        batch = [new_job("new-1"), new_job("taken", title="second"), new_job("new-2")]
        with pytest.raises(DuplicateJobError, match="taken"):
            backend.enqueue(batch, now=NOW + 1)
        assert backend.get("new-1") is None
        assert backend.get("new-2") is None
        assert stored(backend, "taken") == before
        assert backend.count([QUEUE]) == {QUEUE: {JobState.QUEUED: 1}}

    def test_enqueue_of_an_id_repeated_in_one_batch_stores_nothing(self, backend: Backend) -> None:
        batch = [new_job("first"), new_job("twice"), new_job("twice", OTHER_QUEUE)]
        with pytest.raises(DuplicateJobError, match="twice"):
            backend.enqueue(batch, now=NOW)
        assert backend.get("first") is None
        assert backend.get("twice") is None
        assert backend.count([QUEUE, OTHER_QUEUE]) == {QUEUE: {}, OTHER_QUEUE: {}}

    def test_id_of_an_ended_job_cannot_be_reused_while_its_record_is_kept(
        self, backend: Backend
    ) -> None:
        backend.enqueue([new_job("once")], now=NOW)
        complete(backend, outcome(claim_one(backend), JobState.FINISHED), NOW)
        with pytest.raises(DuplicateJobError, match="once"):
            backend.enqueue([new_job("once")], now=NOW + 1)
        assert stored(backend, "once").state is JobState.FINISHED

    def test_enqueue_of_no_jobs_stores_nothing(self, backend: Backend) -> None:
        backend.enqueue([], now=NOW)
        assert backend.list_jobs([QUEUE], states=ALL_STATES).total == 0

    def test_get_of_an_unknown_id_is_none(self, backend: Backend) -> None:
        assert backend.get("no-such-job") is None


class ClaimConformance:
    """Taking jobs: order, limits, leases, waiting, concurrency."""

    def test_claim_takes_jobs_first_in_first_out(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1"), new_job("j2")], now=NOW)
        backend.enqueue([new_job("j3")], now=NOW + 1)
        backend.enqueue([new_job("j4"), new_job("j5")], now=NOW + 2)
        assert drain(backend, [QUEUE]) == ["j1", "j2", "j3", "j4", "j5"]

    def test_job_enqueued_at_front_is_claimed_first(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1"), new_job("j2")], now=NOW)
        backend.enqueue([new_job("urgent", at_front=True)], now=NOW + 1)
        backend.enqueue([new_job("j3")], now=NOW + 2)
        assert drain(backend, [QUEUE]) == ["urgent", "j1", "j2", "j3"]

    def test_claim_empties_the_leftmost_queue_first(self, backend: Backend) -> None:
        backend.enqueue(
            [
                new_job("other-1", OTHER_QUEUE),
                new_job("third-1", THIRD_QUEUE),
                new_job("main-1"),
                new_job("other-2", OTHER_QUEUE),
                new_job("main-2"),
            ],
            now=NOW,
        )
        order = [QUEUE, OTHER_QUEUE, THIRD_QUEUE]
        first = backend.claim(order, worker=WORKER, lease=LEASE, now=NOW, limit=3)
        assert ids(first) == ["main-1", "main-2", "other-1"]
        assert drain(backend, order) == ["other-2", "third-1"]

    def test_claim_follows_the_order_the_queues_are_given_in(self, backend: Backend) -> None:
        backend.enqueue([new_job("main-1"), new_job("other-1", OTHER_QUEUE)], now=NOW)
        assert drain(backend, [OTHER_QUEUE, QUEUE]) == ["other-1", "main-1"]

    def test_claim_takes_at_most_limit_jobs(self, backend: Backend) -> None:
        backend.enqueue([new_job(f"j{n}") for n in range(5)], now=NOW)
        first = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=3)
        second = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=3)
        third = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=3)
        assert (ids(first), ids(second), third) == (["j0", "j1", "j2"], ["j3", "j4"], [])

    def test_claim_marks_the_job_started_with_a_lease(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1"), new_job("j2")], now=NOW)
        claimed = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW + 5, limit=2)
        for record in claimed:
            assert record.state is JobState.STARTED
            assert record.worker == WORKER
            assert record.attempts == 1
            assert record.started_at == NOW + 5
            assert record.lease_token
            assert record.lease_expires_at == NOW + 5 + LEASE
            assert stored(backend, record.id) == record
        assert claimed[0].lease_token != claimed[1].lease_token
        assert backend.count([QUEUE]) == {QUEUE: {JobState.STARTED: 2}}

    def test_claimed_job_keeps_what_was_enqueued(self, backend: Backend) -> None:
        job = new_job("j1", title="kept", meta={"k": "v"}, timeout=42, max_attempts=7)
        backend.enqueue([job], now=NOW)
        record = claim_one(backend)
        assert (record.func, record.payload, record.title, record.meta) == (
            job.func,
            job.payload,
            "kept",
            {"k": "v"},
        )
        assert (record.timeout, record.max_attempts, record.enqueued_at) == (42, 7, NOW)

    def test_claim_of_empty_queues_returns_nothing(self, backend: Backend) -> None:
        backend.enqueue([new_job("elsewhere", THIRD_QUEUE)], now=NOW)
        assert backend.claim([QUEUE, OTHER_QUEUE], worker=WORKER, lease=LEASE, now=NOW) == []
        assert backend.claim([], worker=WORKER, lease=LEASE, now=NOW) == []
        assert stored(backend, "elsewhere").state is JobState.QUEUED

    def test_claim_of_empty_queues_waits_about_as_long_as_asked(self, backend: Backend) -> None:
        wait = 0.3
        started = time.monotonic()
        claimed = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, wait=wait)
        elapsed = time.monotonic() - started
        assert claimed == []
        # Generous: only "it did wait, and it did not hang".
        assert wait / 2 <= elapsed < wait + 10

    def test_waiting_claim_takes_a_job_enqueued_meanwhile(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        assert backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW) == []
        producer, raised = run_in_thread(lambda: other_backend.enqueue([new_job("late")], now=NOW))
        started = time.monotonic()
        claimed = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, wait=60)
        elapsed = time.monotonic() - started
        producer.join(30)
        assert not producer.is_alive()
        assert raised == []
        assert ids(claimed) == ["late"]
        assert elapsed < 30, "the claim sat out its wait instead of taking the new job"

    def test_job_enqueued_elsewhere_after_an_empty_claim_is_claimable_at_once(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        assert backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW) == []
        other_backend.enqueue([new_job("fresh")], now=NOW)
        assert ids(backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW)) == ["fresh"]

    def test_job_enqueued_here_after_an_empty_claim_is_claimable_at_once(
        self, backend: Backend
    ) -> None:
        assert backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW) == []
        backend.enqueue([new_job("fresh")], now=NOW)
        assert ids(backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW)) == ["fresh"]

    def test_an_empty_claim_on_some_queues_does_not_hide_jobs_on_others(
        self, other_backend: Backend, backend: Backend
    ) -> None:
        other_backend.enqueue([new_job("waiting", OTHER_QUEUE)], now=NOW)
        assert backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW) == []
        assert ids(backend.claim([OTHER_QUEUE], worker=WORKER, lease=LEASE, now=NOW)) == [
            "waiting"
        ]

    def test_claimed_job_is_not_claimed_again(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1")], now=NOW)
        claim_one(backend)
        assert backend.claim([QUEUE], worker="someone-else", lease=LEASE, now=NOW + 1) == []

    def test_two_claimers_never_get_the_same_job(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        expected = [f"job-{n:03d}" for n in range(200)]
        backend.enqueue([new_job(job_id) for job_id in expected], now=NOW)
        claimed: dict[str, list[str]] = {"first": [], "second": []}

        def consume(store: Backend, name: str) -> None:
            while records := store.claim([QUEUE], worker=name, lease=LEASE, now=NOW, limit=3):
                claimed[name].extend(ids(records))

        threads = [
            run_in_thread(lambda: consume(backend, "first")),
            run_in_thread(lambda: consume(other_backend, "second")),
        ]
        for thread, raised in threads:
            thread.join(60)
            assert not thread.is_alive()
            assert raised == []
        everything = claimed["first"] + claimed["second"]
        assert sorted(everything) == expected  # each job once: none lost, none twice
        for name, taken in claimed.items():
            assert all(stored(backend, job_id).worker == name for job_id in taken)


class CompleteConformance:
    """Recording the outcome of a claimed job."""

    def test_finished_job_keeps_its_result_and_loses_its_lease(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1")], now=NOW)
        record = claim_one(backend)
        complete(backend, outcome(record, JobState.FINISHED, result=b"\x00result"), NOW + 3)
        done = stored(backend, "j1")
        assert (done.state, done.result, done.ended_at) == (
            JobState.FINISHED,
            b"\x00result",
            NOW + 3,
        )
        assert (done.lease_token, done.lease_expires_at) == (None, None)
        assert (done.attempts, done.started_at, done.errors) == (1, NOW, ())
        assert backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW + 4) == []

    def test_failed_job_keeps_its_error(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1")], now=NOW)
        record = claim_one(backend)
        complete(backend, outcome(record, JobState.FAILED, error=error("boom")), NOW + 3)
        done = stored(backend, "j1")
        assert (done.state, done.ended_at, done.lease_token) == (JobState.FAILED, NOW + 3, None)
        assert done.errors == (error("boom"),)
        assert done.error == error("boom")
        assert backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW + 4) == []

    def test_retried_job_waits_until_its_run_at(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1")], now=NOW)
        record = claim_one(backend)
        retry = outcome(record, JobState.SCHEDULED, error=error("flaky"), run_at=NOW + 60)
        complete(backend, retry, NOW + 1)
        waiting = stored(backend, "j1")
        assert (waiting.state, waiting.run_at, waiting.lease_token) == (
            JobState.SCHEDULED,
            NOW + 60,
            None,
        )
        assert waiting.errors == (error("flaky"),)
        assert ids(backend.list_jobs([QUEUE], states=[JobState.SCHEDULED])) == ["j1"]
        assert backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW + 59) == []
        again = claim_one(backend, now=NOW + 61)
        assert (again.id, again.state, again.attempts) == ("j1", JobState.STARTED, 2)
        assert again.lease_token not in (None, record.lease_token)

    def test_released_job_goes_back_to_the_front_without_counting_the_attempt(
        self, backend: Backend
    ) -> None:
        backend.enqueue([new_job("j1"), new_job("j2")], now=NOW)
        record = claim_one(backend)
        complete(backend, outcome(record, JobState.QUEUED), NOW + 1)
        released = stored(backend, "j1")
        assert (released.state, released.attempts) == (JobState.QUEUED, 0)
        assert (released.lease_token, released.lease_expires_at, released.errors) == (
            None,
            None,
            (),
        )
        assert ids(backend.list_jobs([QUEUE])) == ["j1", "j2"]
        again = claim_one(backend, now=NOW + 2)
        assert (again.id, again.attempts) == ("j1", 1)

    def test_complete_with_a_stale_token_is_refused_and_changes_nothing(
        self, backend: Backend
    ) -> None:
        backend.enqueue([new_job("j1")], now=NOW)
        record = claim_one(backend)
        stale = Completion(job_id="j1", token=NOT_THE_LEASE, state=JobState.FINISHED)
        assert backend.complete([stale], now=NOW + 1) == [False]
        assert stored(backend, "j1") == record

    def test_a_completion_may_correct_the_start_time(self, backend: Backend) -> None:
        backend.enqueue([new_job("late"), new_job("plain")], now=NOW)
        late, plain = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=2)
        complete(backend, outcome(late, JobState.FINISHED, started_at=NOW + 3), NOW + 4)
        complete(backend, outcome(plain, JobState.FAILED, error=error("x")), NOW + 4)
        assert stored(backend, "late").started_at == NOW + 3
        assert stored(backend, "plain").started_at == NOW

    def test_second_completion_of_one_claim_is_refused(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1")], now=NOW)
        record = claim_one(backend)
        complete(backend, outcome(record, JobState.FINISHED, result=b"first"), NOW + 1)
        finished = stored(backend, "j1")
        again = outcome(record, JobState.FAILED, error=error("late"))
        assert backend.complete([again], now=NOW + 2) == [False]
        assert stored(backend, "j1") == finished

    def test_complete_of_an_unknown_job_is_refused(self, backend: Backend) -> None:
        ghost = Completion(job_id="ghost", token=NOT_THE_LEASE, state=JobState.FINISHED)
        assert backend.complete([ghost], now=NOW) == [False]
        assert backend.get("ghost") is None

    def test_complete_answers_for_each_outcome_in_order(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1"), new_job("j2")], now=NOW)
        first, second = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=2)
        batch = [
            outcome(first, JobState.FINISHED, result=b"1"),
            Completion(job_id="j2", token=NOT_THE_LEASE, state=JobState.FINISHED),
            outcome(second, JobState.FAILED, error=error("two")),
        ]
        assert backend.complete(batch, now=NOW + 1) == [True, False, True]
        assert stored(backend, "j1").state is JobState.FINISHED
        assert stored(backend, "j2").state is JobState.FAILED

    def test_errors_of_every_attempt_are_kept(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1", max_attempts=3)], now=NOW)
        first = claim_one(backend)
        retry = outcome(first, JobState.SCHEDULED, error=error("one", 1), run_at=NOW + 10)
        complete(backend, retry, NOW + 1)
        second = claim_one(backend, now=NOW + 10)
        failure = outcome(second, JobState.FAILED, error=error("two", 2, NOW + 11))
        complete(backend, failure, NOW + 11)
        done = stored(backend, "j1")
        assert done.errors == (error("one", 1), error("two", 2, NOW + 11))
        assert done.error == error("two", 2, NOW + 11)
        assert (done.state, done.attempts) == (JobState.FAILED, 2)


class LeaseConformance:
    """Heartbeats and the recovery of jobs whose worker vanished."""

    def test_extend_pushes_back_the_lease_expiry(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1")], now=NOW)
        record = claim_one(backend)
        assert record.lease_token is not None
        assert backend.extend([("j1", record.lease_token)], lease=LEASE, now=NOW + 20) == [True]
        extended = stored(backend, "j1")
        assert extended.lease_expires_at == NOW + 20 + LEASE
        assert (extended.state, extended.lease_token) == (JobState.STARTED, record.lease_token)
        assert backend.recover(now=NOW + LEASE + 1) == []  # past the old expiry only
        assert stored(backend, "j1").state is JobState.STARTED

    def test_extend_with_a_stale_token_is_refused(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1"), new_job("j2")], now=NOW)
        first, second = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=2)
        assert second.lease_token is not None
        leases = [("j1", NOT_THE_LEASE), ("j2", second.lease_token), ("ghost", NOT_THE_LEASE)]
        assert backend.extend(leases, lease=LEASE, now=NOW + 10) == [False, True, False]
        assert stored(backend, "j1") == first
        assert stored(backend, "j2").lease_expires_at == NOW + 10 + LEASE

    def test_extend_of_an_ended_job_is_refused(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1")], now=NOW)
        record = claim_one(backend)
        complete(backend, outcome(record, JobState.FINISHED), NOW + 1)
        assert record.lease_token is not None
        assert backend.extend([("j1", record.lease_token)], lease=LEASE, now=NOW + 2) == [False]
        assert stored(backend, "j1").lease_expires_at is None

    def test_expired_lease_is_requeued_with_the_attempt_counted(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1", max_attempts=3), new_job("j2")], now=NOW)
        lost = claim_one(backend)
        assert backend.recover(now=NOW + LEASE - 1) == []
        recoveries = backend.recover(now=NOW + LEASE + 1)
        assert recoveries == [
            Recovery(job_id="j1", queue=QUEUE, state=JobState.QUEUED, attempts=1)
        ]
        requeued = stored(backend, "j1")
        assert (requeued.state, requeued.attempts) == (JobState.QUEUED, 1)
        assert (requeued.lease_token, requeued.lease_expires_at) == (None, None)
        assert [e.type for e in requeued.errors] == ["WorkerLost"]
        assert requeued.errors[0].attempt == 1
        assert backend.recover(now=NOW + LEASE + 2) == []
        retried = backend.claim([QUEUE], worker="w2", lease=LEASE, now=NOW + LEASE + 2, limit=2)
        assert "j1" in ids(retried)
        again = next(r for r in retried if r.id == "j1")
        assert (again.attempts, again.worker) == (2, "w2")
        assert again.lease_token != lost.lease_token

    def test_expired_lease_fails_the_job_when_its_attempts_are_spent(
        self, backend: Backend
    ) -> None:
        backend.enqueue([new_job("j1", max_attempts=2)], now=NOW)
        claim_one(backend)
        backend.recover(now=NOW + LEASE + 1)
        claim_one(backend, now=NOW + 100)
        recoveries = backend.recover(now=NOW + 100 + LEASE + 1)
        assert recoveries == [
            Recovery(job_id="j1", queue=QUEUE, state=JobState.FAILED, attempts=2)
        ]
        failed = stored(backend, "j1")
        assert (failed.state, failed.attempts) == (JobState.FAILED, 2)
        assert failed.ended_at == NOW + 100 + LEASE + 1
        assert failed.lease_token is None
        assert [(e.type, e.attempt) for e in failed.errors] == [
            ("WorkerLost", 1),
            ("WorkerLost", 2),
        ]
        assert backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW + 200) == []

    def test_completion_from_a_worker_whose_lease_was_recovered_is_refused(
        self, backend: Backend
    ) -> None:
        backend.enqueue([new_job("j1")], now=NOW)
        lost = claim_one(backend, worker="w1")
        backend.recover(now=NOW + LEASE + 1)
        current = claim_one(backend, now=NOW + LEASE + 2, worker="w2")
        late = outcome(lost, JobState.FINISHED, result=b"late")
        assert backend.complete([late], now=NOW + LEASE + 3) == [False]
        assert lost.lease_token is not None
        assert backend.extend([("j1", lost.lease_token)], lease=LEASE, now=NOW + 40) == [False]
        assert stored(backend, "j1") == current
        complete(backend, outcome(current, JobState.FINISHED, result=b"mine"), NOW + 41)
        assert stored(backend, "j1").result == b"mine"

    def test_recover_leaves_other_states_alone(self, backend: Backend) -> None:
        backend.enqueue([new_job("queued"), new_job("done"), new_job("later")], now=NOW)
        done, later = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=2)
        complete(backend, outcome(done, JobState.FINISHED), NOW + 1)
        complete(backend, outcome(later, JobState.SCHEDULED, run_at=NOW + 10**6), NOW + 1)
        before = [stored(backend, job_id) for job_id in ("queued", "done", "later")]
        assert backend.recover(now=NOW + 10**5) == []
        assert [stored(backend, job_id) for job_id in ("queued", "done", "later")] == before


class RetentionConformance:
    """How long ended records are kept (``result_ttl`` / ``failure_ttl``)."""

    def _finish(self, backend: Backend, job: NewJob, state: JobState, now: float) -> None:
        backend.enqueue([job], now=now)
        record = claim_one(backend, [job.queue], now=now)
        fields: dict[str, Any] = {"result": b"r"} if state is JobState.FINISHED else {}
        if state is JobState.FAILED:
            fields["error"] = error("boom")
        complete(backend, outcome(record, state, **fields), now)

    def test_finished_record_is_purged_once_its_result_ttl_passed(self, backend: Backend) -> None:
        self._finish(
            backend, new_job("j1", result_ttl=100, failure_ttl=10), JobState.FINISHED, NOW
        )
        assert backend.purge(now=NOW + 99) == 0
        assert stored(backend, "j1").state is JobState.FINISHED
        assert backend.purge(now=NOW + 101) == 1
        assert backend.get("j1") is None

    def test_failed_record_is_purged_once_its_failure_ttl_passed(self, backend: Backend) -> None:
        self._finish(backend, new_job("j1", result_ttl=10, failure_ttl=100), JobState.FAILED, NOW)
        assert backend.purge(now=NOW + 99) == 0
        assert stored(backend, "j1").state is JobState.FAILED
        assert backend.purge(now=NOW + 101) == 1
        assert backend.get("j1") is None

    def test_canceled_record_is_purged_once_its_failure_ttl_passed(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1", result_ttl=10, failure_ttl=100)], now=NOW)
        claim_one(backend)
        backend.cancel("j1", now=NOW + 1)
        assert backend.purge(now=NOW + 100) == 0
        assert stored(backend, "j1").state is JobState.CANCELED
        assert backend.purge(now=NOW + 102) == 1
        assert backend.get("j1") is None

    def test_ttl_of_zero_keeps_no_record(self, backend: Backend) -> None:
        self._finish(backend, new_job("ok", result_ttl=0), JobState.FINISHED, NOW)
        self._finish(backend, new_job("bad", failure_ttl=0), JobState.FAILED, NOW)
        backend.enqueue([new_job("lost", failure_ttl=0, max_attempts=1)], now=NOW)
        claim_one(backend)
        recoveries = backend.recover(now=NOW + LEASE + 1)
        assert [(r.job_id, r.state) for r in recoveries] == [("lost", JobState.FAILED)]
        backend.enqueue([new_job("stopped", failure_ttl=0)], now=NOW)
        running = claim_one(backend)
        assert backend.cancel("stopped", now=NOW + 1) == running
        assert running.lease_token is not None
        assert backend.extend([("stopped", running.lease_token)], lease=LEASE, now=NOW + 2) == [
            False
        ]
        gone = [backend.get(job_id) for job_id in ("ok", "bad", "lost", "stopped")]
        assert gone == [None, None, None, None]

    def test_ttl_of_minus_one_keeps_the_record_forever(self, backend: Backend) -> None:
        self._finish(backend, new_job("ok", result_ttl=-1), JobState.FINISHED, NOW)
        self._finish(backend, new_job("bad", failure_ttl=-1), JobState.FAILED, NOW)
        assert backend.purge(now=NOW + 100 * 365 * 86_400) == 0
        assert stored(backend, "ok").state is JobState.FINISHED
        assert stored(backend, "bad").state is JobState.FAILED

    def test_purge_leaves_unended_jobs_alone(self, backend: Backend) -> None:
        jobs = [new_job(job_id, result_ttl=1, failure_ttl=1) for job_id in ("q", "s", "r")]
        backend.enqueue(jobs, now=NOW)
        _, retried = backend.claim([QUEUE], worker=WORKER, lease=10**9, now=NOW, limit=2)
        retry = outcome(retried, JobState.SCHEDULED, error=error("x"), run_at=NOW + 10**9)
        complete(backend, retry, NOW)
        assert backend.purge(now=NOW + 10**6) == 0
        states = [stored(backend, job_id).state for job_id in ("q", "s", "r")]
        assert states == [JobState.STARTED, JobState.SCHEDULED, JobState.QUEUED]


class ListingConformance:
    """get, list_jobs, queue_names and count."""

    def test_list_jobs_defaults_to_queued_jobs_in_claim_order(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1"), new_job("j2")], now=NOW)
        backend.enqueue([new_job("front", at_front=True), new_job("j3")], now=NOW + 1)
        claim_one(backend)  # "front" is started: no longer listed by default
        backend.enqueue([new_job("front-2", at_front=True)], now=NOW + 2)
        page = backend.list_jobs([QUEUE])
        assert ids(page) == ["front-2", "j1", "j2", "j3"]
        assert page.total == 4
        assert ids(page) == drain(backend, [QUEUE])

    def test_list_jobs_goes_queue_by_queue_as_given(self, backend: Backend) -> None:
        backend.enqueue(
            [new_job("a1"), new_job("b1", OTHER_QUEUE), new_job("a2"), new_job("b2", OTHER_QUEUE)],
            now=NOW,
        )
        assert ids(backend.list_jobs([OTHER_QUEUE, QUEUE])) == ["b1", "b2", "a1", "a2"]
        assert ids(backend.list_jobs([QUEUE, OTHER_QUEUE])) == ["a1", "a2", "b1", "b2"]
        assert ids(backend.list_jobs([OTHER_QUEUE])) == ["b1", "b2"]

    def _ran(self, backend: Backend, job_id: str, now: float) -> JobRecord:
        backend.enqueue([new_job(job_id)], now=now)
        record = claim_one(backend, now=now)
        assert record.id == job_id
        return record

    def test_list_jobs_orders_each_state_as_documented(self, backend: Backend) -> None:
        self._ran(backend, "started-1", NOW)
        self._ran(backend, "started-2", NOW + 5)
        for job_id, run_at in (("sched-late", NOW + 200), ("sched-soon", NOW + 100)):
            record = self._ran(backend, job_id, NOW + 6)
            complete(backend, outcome(record, JobState.SCHEDULED, run_at=run_at), NOW + 6)
        finished = self._ran(backend, "finished", NOW + 7)
        complete(backend, outcome(finished, JobState.FINISHED), NOW + 10)
        failed = self._ran(backend, "failed", NOW + 8)
        complete(backend, outcome(failed, JobState.FAILED, error=error("x")), NOW + 20)
        self._ran(backend, "canceled", NOW + 9)
        backend.cancel("canceled", now=NOW + 30)
        backend.enqueue([new_job("queued-1")], now=NOW + 40)
        backend.enqueue([new_job("queued-0", at_front=True)], now=NOW + 41)
        backend.enqueue([new_job("other", OTHER_QUEUE)], now=NOW + 42)

        def listed(*states: JobState) -> list[str]:
            return ids(backend.list_jobs([QUEUE], states=states))

        assert listed(JobState.SCHEDULED) == ["sched-soon", "sched-late"]
        assert listed(JobState.STARTED) == ["started-1", "started-2"]
        assert listed(JobState.FINISHED, JobState.FAILED, JobState.CANCELED) == [
            "canceled",
            "failed",
            "finished",
        ]
        assert listed(JobState.FAILED) == ["failed"]
        assert ids(backend.list_jobs([OTHER_QUEUE, QUEUE], states=ALL_STATES)) == [
            "other",
            "queued-0",
            "queued-1",
            "sched-soon",
            "sched-late",
            "started-1",
            "started-2",
            "canceled",
            "failed",
            "finished",
        ]

    def test_list_jobs_pages_with_offset_and_limit_and_counts_the_total(
        self, backend: Backend
    ) -> None:
        backend.enqueue([new_job(f"a{n}") for n in range(5)], now=NOW)
        backend.enqueue([new_job(f"b{n}", OTHER_QUEUE) for n in range(4)], now=NOW)
        queues = [QUEUE, OTHER_QUEUE]
        everything = backend.list_jobs(queues)
        assert everything.total == 9
        assert ids(everything) == [f"a{n}" for n in range(5)] + [f"b{n}" for n in range(4)]
        across = backend.list_jobs(queues, offset=3, limit=4)
        assert (ids(across), across.total) == (["a3", "a4", "b0", "b1"], 9)
        first = backend.list_jobs(queues, limit=2)
        assert (ids(first), first.total) == (["a0", "a1"], 9)
        tail = backend.list_jobs(queues, offset=8, limit=10)
        assert (ids(tail), tail.total) == (["b3"], 9)
        beyond = backend.list_jobs(queues, offset=20)
        assert (ids(beyond), beyond.total) == ([], 9)
        nothing = backend.list_jobs(queues, limit=0)
        assert (ids(nothing), nothing.total) == ([], 9)

    def test_list_jobs_of_unknown_queues_or_no_states_is_empty(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1")], now=NOW)
        assert backend.list_jobs([THIRD_QUEUE]) == Page(items=(), total=0)
        assert backend.list_jobs([], states=ALL_STATES) == Page(items=(), total=0)
        assert backend.list_jobs([QUEUE], states=()) == Page(items=(), total=0)

    def test_listed_records_equal_the_stored_ones(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1", meta={"m": 1}), new_job("j2")], now=NOW)
        record = claim_one(backend)
        complete(backend, outcome(record, JobState.FAILED, error=error("x")), NOW + 1)
        page = backend.list_jobs([QUEUE], states=ALL_STATES)
        assert list(page.items) == [stored(backend, "j2"), stored(backend, "j1")]

    def test_queue_names_lists_the_queues_of_one_prefix_only(self, backend: Backend) -> None:
        backend.enqueue(
            [
                new_job("d", "conveyor:site:default"),
                new_job("e1", "conveyor:site:emails"),
                new_job("e2", "conveyor:site:emails"),
                new_job("done", "conveyor:site:done"),
                new_job("gone", "conveyor:site:gone"),
                new_job("x", "conveyor:site2:default"),
                new_job("y", "conveyor:other:default"),
            ],
            now=NOW,
        )
        complete(
            backend, outcome(claim_one(backend, ["conveyor:site:done"]), JobState.FINISHED), NOW
        )
        backend.cancel("gone", now=NOW)
        assert backend.queue_names("conveyor:site:") == [
            "conveyor:site:default",
            "conveyor:site:done",
            "conveyor:site:emails",
        ]
        assert backend.queue_names("conveyor:site2:") == ["conveyor:site2:default"]
        assert backend.queue_names("conveyor:nobody:") == []

    def test_count_gives_the_records_per_state_of_each_queue(self, backend: Backend) -> None:
        backend.enqueue([new_job(f"j{n}") for n in range(7)], now=NOW)
        backend.enqueue([new_job("other", OTHER_QUEUE)], now=NOW)
        j0, j1, j2, j3 = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=4)
        complete(backend, outcome(j0, JobState.FINISHED), NOW)
        complete(backend, outcome(j1, JobState.FAILED, error=error("x")), NOW)
        complete(backend, outcome(j2, JobState.SCHEDULED, run_at=NOW + 100), NOW)
        assert backend.count([QUEUE, THIRD_QUEUE]) == {
            QUEUE: {
                JobState.QUEUED: 3,
                JobState.SCHEDULED: 1,
                JobState.STARTED: 1,
                JobState.FINISHED: 1,
                JobState.FAILED: 1,
            },
            THIRD_QUEUE: {},
        }
        backend.cancel(j3.id, now=NOW)
        assert backend.count([OTHER_QUEUE, QUEUE])[QUEUE][JobState.CANCELED] == 1
        assert backend.count([OTHER_QUEUE]) == {OTHER_QUEUE: {JobState.QUEUED: 1}}


class CancelConformance:
    """cancel and clear."""

    def test_cancel_of_a_queued_job_deletes_it_and_returns_its_record(
        self, backend: Backend
    ) -> None:
        backend.enqueue([new_job("j1"), new_job("j2")], now=NOW)
        before = stored(backend, "j1")
        assert backend.cancel("j1", now=NOW + 1) == before
        assert backend.get("j1") is None
        assert drain(backend, [QUEUE]) == ["j2"]

    def test_cancel_of_a_scheduled_job_deletes_it(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1")], now=NOW)
        record = claim_one(backend)
        complete(backend, outcome(record, JobState.SCHEDULED, run_at=NOW + 10), NOW)
        before = stored(backend, "j1")
        assert backend.cancel("j1", now=NOW + 1) == before
        assert backend.get("j1") is None
        assert backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW + 20) == []

    def test_cancel_of_a_started_job_revokes_its_lease(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1")], now=NOW)
        record = claim_one(backend)
        assert record.lease_token is not None
        assert backend.cancel("j1", now=NOW + 5) == record
        canceled = stored(backend, "j1")
        assert (canceled.state, canceled.ended_at, canceled.lease_token) == (
            JobState.CANCELED,
            NOW + 5,
            None,
        )
        assert backend.extend([("j1", record.lease_token)], lease=LEASE, now=NOW + 6) == [False]
        late = outcome(record, JobState.FINISHED, result=b"too late")
        assert backend.complete([late], now=NOW + 7) == [False]
        assert backend.recover(now=NOW + 10 * LEASE) == []
        assert stored(backend, "j1") == canceled

    def test_cancel_of_an_ended_job_raises_and_changes_nothing(self, backend: Backend) -> None:
        backend.enqueue([new_job("ok"), new_job("bad"), new_job("stopped")], now=NOW)
        ok, bad, _ = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=3)
        complete(backend, outcome(ok, JobState.FINISHED), NOW + 1)
        complete(backend, outcome(bad, JobState.FAILED, error=error("x")), NOW + 1)
        backend.cancel("stopped", now=NOW + 1)
        for job_id in ("ok", "bad", "stopped"):
            before = stored(backend, job_id)
            with pytest.raises(JobStateError):
                backend.cancel(job_id, now=NOW + 2)
            assert stored(backend, job_id) == before

    def test_cancel_of_an_unknown_job_returns_none(self, backend: Backend) -> None:
        assert backend.cancel("no-such-job", now=NOW) is None

    def test_clear_deletes_queued_and_scheduled_jobs_only(self, backend: Backend) -> None:
        backend.enqueue(
            [new_job(job_id) for job_id in ("run", "done", "sched", "q1", "q2")], now=NOW
        )
        backend.enqueue([new_job("b1", OTHER_QUEUE), new_job("kept", THIRD_QUEUE)], now=NOW)
        run, done, sched = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=3)
        complete(backend, outcome(done, JobState.FINISHED), NOW)
        complete(backend, outcome(sched, JobState.SCHEDULED, run_at=NOW + 5), NOW)
        cleared = backend.clear([QUEUE, OTHER_QUEUE, "conveyor:conformance:empty"], now=NOW + 1)
        assert cleared == {QUEUE: 3, OTHER_QUEUE: 1, "conveyor:conformance:empty": 0}
        assert backend.count([QUEUE, OTHER_QUEUE, THIRD_QUEUE]) == {
            QUEUE: {JobState.STARTED: 1, JobState.FINISHED: 1},
            OTHER_QUEUE: {},
            THIRD_QUEUE: {JobState.QUEUED: 1},
        }
        assert [backend.get(job_id) for job_id in ("sched", "q1", "q2", "b1")] == [None] * 4
        assert backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW + 10) == []
        assert run.lease_token is not None
        assert backend.extend([("run", run.lease_token)], lease=LEASE, now=NOW + 2) == [True]

    def test_clear_of_no_queues_clears_nothing(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1")], now=NOW)
        assert backend.clear([], now=NOW) == {}
        assert stored(backend, "j1").state is JobState.QUEUED


class RequeueConformance:
    """Failed and canceled jobs go back to their queue on request."""

    def test_requeue_puts_a_failed_job_at_the_back_with_fresh_attempts(
        self, backend: Backend
    ) -> None:
        backend.enqueue([new_job("bad"), new_job("waiting")], now=NOW)
        record = claim_one(backend)
        complete(backend, outcome(record, JobState.FAILED, error=error("boom")), NOW + 1)
        assert backend.requeue(["bad"], now=NOW + 2) == ["bad"]
        again = stored(backend, "bad")
        assert again.state is JobState.QUEUED
        assert again.attempts == 0
        assert again.ended_at is None
        assert [e.message for e in again.errors] == ["boom"]
        assert drain(backend, [QUEUE], now=NOW + 3) == ["waiting", "bad"]

    def test_requeue_of_a_canceled_job_makes_it_claimable(self, backend: Backend) -> None:
        backend.enqueue([new_job("stopped")], now=NOW)
        claim_one(backend)
        backend.cancel("stopped", now=NOW + 1)
        assert backend.requeue(["stopped"], now=NOW + 2) == ["stopped"]
        assert claim_one(backend, now=NOW + 3).id == "stopped"

    def test_requeue_leaves_other_states_and_unknown_ids_alone(self, backend: Backend) -> None:
        backend.enqueue([new_job("done"), new_job("running"), new_job("queued")], now=NOW)
        finished = claim_one(backend)
        complete(backend, outcome(finished, JobState.FINISHED, result=b"r"), NOW + 1)
        running = claim_one(backend, now=NOW + 1)
        assert backend.requeue(["done", "running", "queued", "nobody"], now=NOW + 2) == []
        assert stored(backend, "done").state is JobState.FINISHED
        assert stored(backend, "running").lease_token == running.lease_token
        assert ids(backend.list_jobs([QUEUE])) == ["queued"]

    def test_a_requeued_job_is_not_purged_by_its_old_retention(self, backend: Backend) -> None:
        backend.enqueue([new_job("bad", failure_ttl=10)], now=NOW)
        record = claim_one(backend)
        complete(backend, outcome(record, JobState.FAILED, error=error("boom")), NOW)
        backend.requeue(["bad"], now=NOW + 1)
        backend.purge(now=NOW + 100)
        assert stored(backend, "bad").state is JobState.QUEUED


def worker_info(key: str, queues: Sequence[str] = (QUEUE,), **changes: Any) -> WorkerInfo:
    """A worker's registration."""
    info = WorkerInfo(
        key=key, queues=tuple(queues), host="host", pid=42, started_at=NOW, heartbeat_at=NOW
    )
    return dataclasses.replace(info, **changes)


class WorkerRegistryConformance:
    """Workers register with a heartbeat and vanish when it stops."""

    def test_a_registered_worker_is_listed_with_its_details(self, backend: Backend) -> None:
        info = worker_info("w1", jobs=("a",), finished=3, failed=1, state="busy")
        backend.register_worker(info, ttl=30, now=NOW)
        assert backend.workers("conveyor:conformance:", now=NOW + 1) == [info]

    def test_a_heartbeat_replaces_the_registration(self, backend: Backend) -> None:
        backend.register_worker(worker_info("w1"), ttl=30, now=NOW)
        later = worker_info("w1", heartbeat_at=NOW + 20, finished=9)
        backend.register_worker(later, ttl=30, now=NOW + 20)
        assert backend.workers("conveyor:conformance:", now=NOW + 40) == [later]

    def test_a_worker_whose_heartbeat_expired_is_gone(self, backend: Backend) -> None:
        backend.register_worker(worker_info("w1"), ttl=30, now=NOW)
        assert backend.workers("conveyor:conformance:", now=NOW + 31) == []

    def test_an_unregistered_worker_is_gone(self, backend: Backend) -> None:
        backend.register_worker(worker_info("w1"), ttl=30, now=NOW)
        backend.unregister_worker("w1")
        backend.unregister_worker("never-registered")
        assert backend.workers("conveyor:conformance:", now=NOW) == []

    def test_workers_are_listed_per_site_oldest_first(self, backend: Backend) -> None:
        older = worker_info("w-old", started_at=NOW - 10)
        newer = worker_info("w-new", queues=(OTHER_QUEUE, QUEUE))
        foreign = worker_info("w-foreign", queues=("conveyor:elsewhere:default",))
        for info in (newer, foreign, older):
            backend.register_worker(info, ttl=30, now=NOW)
        assert backend.workers("conveyor:conformance:", now=NOW) == [older, newer]
        assert backend.workers("conveyor:elsewhere:", now=NOW) == [foreign]


def api_token(name: str, site_id: str = "conformance", **changes: Any) -> ApiToken:
    """A web API token as stored, with a hash that differs per site and name."""
    token = ApiToken(
        name=name,
        hash=hashlib.sha256(f"{site_id}/{name}".encode()).hexdigest(),
        read_only=False,
        created_at=NOW,
        site_id=site_id,
    )
    return dataclasses.replace(token, **changes)


class TokenConformance:
    """Web API tokens: stored by hash, named uniquely per site, revocable."""

    def test_a_saved_token_is_found_by_its_hash_from_another_instance(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        token = api_token("ci", read_only=True)
        backend.save_token(token)
        assert other_backend.find_token(token.hash) == token

    def test_an_unknown_hash_finds_nothing(self, backend: Backend) -> None:
        backend.save_token(api_token("ci"))
        assert backend.find_token(hashlib.sha256(b"guess").hexdigest()) is None

    def test_tokens_are_listed_per_site_by_name(self, backend: Backend) -> None:
        ops, ci, foreign = api_token("ops"), api_token("ci"), api_token("ci", site_id="elsewhere")
        for token in (ops, foreign, ci):
            backend.save_token(token)
        assert backend.tokens("conformance") == [ci, ops]
        assert backend.tokens("elsewhere") == [foreign]
        assert backend.tokens("nobody") == []

    def test_a_second_token_of_the_same_name_on_a_site_is_refused(self, backend: Backend) -> None:
        first = api_token("ci")
        backend.save_token(first)
        with pytest.raises(DuplicateTokenError, match="ci"):
            backend.save_token(api_token("ci", hash="0" * 64, read_only=True))
        assert backend.tokens("conformance") == [first]

    def test_revoking_removes_only_that_sites_token(self, backend: Backend) -> None:
        mine, foreign = api_token("ci"), api_token("ci", site_id="elsewhere")
        backend.save_token(mine)
        backend.save_token(foreign)
        assert backend.revoke_token("conformance", "ci") is True
        assert backend.find_token(mine.hash) is None
        assert backend.tokens("conformance") == []
        assert backend.find_token(foreign.hash) == foreign

    def test_revoking_an_unknown_name_reports_false(self, backend: Backend) -> None:
        assert backend.revoke_token("conformance", "nobody") is False

    def test_a_revoked_name_can_be_used_again(self, backend: Backend) -> None:
        backend.save_token(api_token("ci"))
        backend.revoke_token("conformance", "ci")
        again = api_token("ci", hash="1" * 64)
        backend.save_token(again)
        assert backend.tokens("conformance") == [again]


class BackendConformance(
    EnqueueConformance,
    ClaimConformance,
    CompleteConformance,
    LeaseConformance,
    RetentionConformance,
    ListingConformance,
    CancelConformance,
    RequeueConformance,
    WorkerRegistryConformance,
    TokenConformance,
):
    """Every conformance test; subclass it and provide the two fixtures.

    ``backend`` yields a fresh backend on an empty store (and closes it
    afterwards); ``other_backend`` yields a second instance on the same
    store, as another process would open it.
    """

    @pytest.fixture
    def backend(self) -> Backend:
        pytest.fail("Subclass BackendConformance and provide a `backend` fixture")

    @pytest.fixture
    def other_backend(self) -> Backend:
        pytest.fail("Subclass BackendConformance and provide an `other_backend` fixture")
