"""Conformance: recording outcomes, and refusing them from a lost lease."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conveyor.backends.base import (
    Backend,
    Completion,
    JobState,
)
from conveyor.testing.conformance.support import (
    LEASE,
    NOT_THE_LEASE,
    NOW,
    QUEUE,
    WORKER,
    claim_one,
    complete,
    error,
    ids,
    new_job,
    outcome,
    stored,
)


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

    def test_uncounted_retry_gives_the_attempt_back_and_keeps_the_error(
        self, backend: Backend
    ) -> None:
        backend.enqueue([new_job("j1"), new_job("j2")], now=NOW)
        first, second = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=2)
        missing = error("No module named 'tasks'")
        uncounted = outcome(
            first, JobState.SCHEDULED, error=missing, run_at=NOW + 30, count_attempt=False
        )
        complete(backend, uncounted, NOW + 1)
        # The same through the combined call the worker uses.
        also = outcome(
            second, JobState.SCHEDULED, error=missing, run_at=NOW + 30, count_attempt=False
        )
        accepted, _ = backend.complete_and_claim(
            [also], [QUEUE], worker=WORKER, lease=LEASE, now=NOW + 1, limit=0
        )
        assert accepted == [True]
        waiting = stored(backend, "j1")
        assert (waiting.state, waiting.run_at, waiting.attempts) == (
            JobState.SCHEDULED,
            NOW + 30,
            0,
        )
        assert waiting.errors == (missing,)
        assert stored(backend, "j2").attempts == 0
        again = claim_one(backend, now=NOW + 31)
        assert (again.id, again.attempts) == ("j1", 1)

    def test_an_error_keeps_the_start_of_its_attempt(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1")], now=NOW)
        record = claim_one(backend)
        timed = replace(error("slow"), started_at=NOW + 0.5, at=NOW + 2)
        complete(backend, outcome(record, JobState.FAILED, error=timed), NOW + 2)
        assert stored(backend, "j1").errors == (timed,)
        assert stored(backend, "j1").errors[0].started_at == NOW + 0.5

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

    def test_an_outcome_no_job_can_have_raises_and_records_nothing(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1"), new_job("j2")], now=NOW)
        first, second = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=2)
        for impossible in (JobState.STARTED, JobState.CANCELED):
            batch = [outcome(first, JobState.FINISHED), outcome(second, impossible)]
            with pytest.raises(ValueError, match=f"cannot be completed as {impossible}"):
                backend.complete(batch, now=NOW + 1)
            with pytest.raises(ValueError, match=f"cannot be completed as {impossible}"):
                backend.complete_and_claim(
                    batch, [QUEUE], worker=WORKER, lease=LEASE, now=NOW + 1, limit=1
                )
        assert stored(backend, "j1") == first
        assert stored(backend, "j2") == second

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
