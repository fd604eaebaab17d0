"""Conformance: putting failed and canceled jobs back."""

from __future__ import annotations

from conveyor.backends.base import (
    Backend,
    JobState,
)
from conveyor.testing.conformance.support import (
    NOW,
    QUEUE,
    claim_one,
    complete,
    drain,
    error,
    ids,
    new_job,
    outcome,
    stored,
)


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
