"""Conformance: complete_and_claim(), the worker's hot path, against its contract.

A backend may do both halves in one round trip (``_complete_then_claim``)
or leave them to the base class; either way the outcomes are recorded first,
each answered on its own, and the claim goes ahead whatever they were.
"""

from __future__ import annotations

from conveyor.backends.base import Backend, Completion, JobState
from conveyor.testing.conformance.support import (
    LEASE,
    NOT_THE_LEASE,
    NOW,
    OTHER_QUEUE,
    QUEUE,
    WORKER,
    claim_one,
    ids,
    new_job,
    outcome,
    run_in_thread,
    stored,
    wait_for,
)


def complete_and_claim(
    backend: Backend,
    completions: list[Completion],
    *,
    limit: int = 1,
    wait: float = 0.0,
    now: float = NOW + 5,
) -> tuple[list[bool], list[str]]:
    """The answers for ``completions``, and the ids claimed from QUEUE then OTHER_QUEUE."""
    accepted, claimed = backend.complete_and_claim(
        completions, [QUEUE, OTHER_QUEUE], worker=WORKER, lease=LEASE, now=now,
        limit=limit, wait=wait,
    )  # fmt: skip
    return accepted, ids(claimed)


class CompleteAndClaimConformance:
    """Recording outcomes and claiming the next jobs in one call."""

    def test_outcomes_are_recorded_and_the_next_jobs_claimed(self, backend: Backend) -> None:
        backend.enqueue(
            [new_job("done"), new_job("broken"), new_job("n1"), new_job("n2")], now=NOW
        )
        first, second = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=2)
        done = outcome(first, JobState.FINISHED, result=b"42")
        failed = outcome(second, JobState.FAILED)
        assert complete_and_claim(backend, [done, failed], limit=5) == ([True, True], ["n1", "n2"])
        assert (stored(backend, "done").state, stored(backend, "done").result) == (
            JobState.FINISHED,
            b"42",
        )
        assert stored(backend, "broken").state is JobState.FAILED
        for job_id in ("n1", "n2"):
            record = stored(backend, job_id)
            assert (record.state, record.worker, record.attempts) == (JobState.STARTED, WORKER, 1)
            assert record.lease_expires_at == NOW + 5 + LEASE

    def test_the_outcome_is_recorded_before_the_claim(self, backend: Backend) -> None:
        # A job put back (a cold shutdown) goes to the front of its queue, and
        # the claim of the same call takes it: it saw the outcome.
        backend.enqueue([new_job("back"), new_job("behind")], now=NOW)
        record = claim_one(backend)
        accepted, claimed = complete_and_claim(backend, [outcome(record, JobState.QUEUED)])
        assert (accepted, claimed) == ([True], ["back"])
        again = stored(backend, "back")
        assert again.lease_token not in {None, record.lease_token}
        assert again.attempts == 1  # the released attempt was not counted

    def test_a_stale_token_is_refused_while_the_claim_proceeds(self, backend: Backend) -> None:
        backend.enqueue([new_job("held"), new_job("next")], now=NOW)
        record = claim_one(backend)
        stale = Completion("held", NOT_THE_LEASE, JobState.FINISHED, result=b"no")
        assert complete_and_claim(backend, [stale]) == ([False], ["next"])
        held = stored(backend, "held")
        assert (held.state, held.lease_token, held.result) == (
            JobState.STARTED,
            record.lease_token,
            None,
        )

    def test_each_outcome_is_answered_in_order(self, backend: Backend) -> None:
        backend.enqueue([new_job("a"), new_job("b")], now=NOW)
        a, b = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=2)
        unknown = Completion("no-such-job", "token", JobState.FINISHED)
        completions = [
            outcome(a, JobState.FINISHED),
            unknown,
            Completion("b", NOT_THE_LEASE, JobState.FINISHED),
            outcome(b, JobState.FAILED),
        ]
        assert complete_and_claim(backend, completions) == ([True, False, False, True], [])

    def test_with_nothing_to_claim_the_outcome_is_recorded_before_the_wait(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        backend.enqueue([new_job("first")], now=NOW)
        done = outcome(claim_one(backend), JobState.FINISHED)
        answers: list[tuple[list[bool], list[str]]] = []
        claimer, raised = run_in_thread(
            lambda: answers.append(complete_and_claim(backend, [done], wait=60))
        )
        wait_for(
            lambda: stored(other_backend, "first").state is JobState.FINISHED,
            "the outcome to be recorded while the claim waits",
        )
        assert claimer.is_alive(), "the claim did not wait"
        other_backend.enqueue([new_job("late", OTHER_QUEUE)], now=NOW + 6)
        claimer.join(30)
        assert not claimer.is_alive(), "the waiting claim missed the job enqueued meanwhile"
        assert raised == []
        assert answers == [([True], ["late"])]

    def test_a_limit_of_zero_records_the_outcomes_and_claims_nothing(
        self, backend: Backend
    ) -> None:
        backend.enqueue([new_job("j1"), new_job("j2")], now=NOW)
        done = outcome(claim_one(backend), JobState.FINISHED)
        assert complete_and_claim(backend, [done], limit=0) == ([True], [])
        assert stored(backend, "j1").state is JobState.FINISHED
        assert stored(backend, "j2").state is JobState.QUEUED

    def test_no_outcomes_make_it_a_claim(self, backend: Backend) -> None:
        backend.enqueue([new_job("o1", OTHER_QUEUE), new_job("q1")], now=NOW)
        assert complete_and_claim(backend, [], limit=2) == ([], ["q1", "o1"])
