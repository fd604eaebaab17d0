"""Conformance: extending leases and recovering jobs whose worker vanished."""

from __future__ import annotations

from conveyor.backends.base import (
    Backend,
    JobState,
    Recovery,
)
from conveyor.testing.conformance.support import (
    LEASE,
    NOT_THE_LEASE,
    NOW,
    QUEUE,
    WORKER,
    claim_one,
    complete,
    ids,
    new_job,
    outcome,
    stored,
)


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
