"""Conformance: how long ended records are kept, and purging them."""

from __future__ import annotations

from typing import Any

from conveyor.backends.base import (
    Backend,
    JobState,
    NewJob,
)
from conveyor.testing.conformance.support import (
    LEASE,
    NOW,
    QUEUE,
    WORKER,
    claim_one,
    complete,
    error,
    new_job,
    outcome,
    stored,
)


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
