"""Conformance: cancelling one job and clearing queues."""

from __future__ import annotations

import pytest

from conveyor.backends.base import (
    Backend,
    JobState,
)
from conveyor.exceptions import JobStateError
from conveyor.testing.conformance.support import (
    LEASE,
    NOW,
    OTHER_QUEUE,
    QUEUE,
    THIRD_QUEUE,
    WORKER,
    claim_one,
    complete,
    drain,
    error,
    ids,
    new_job,
    outcome,
    stored,
)


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
            with pytest.raises(JobStateError) as raised:
                backend.cancel(job_id, now=NOW + 2)
            assert str(raised.value) == str(JobStateError.cannot_cancel(job_id, before.state))
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

    @pytest.mark.parametrize(
        "state",
        [
            JobState.QUEUED,
            JobState.SCHEDULED,
            JobState.STARTED,
            JobState.FINISHED,
            JobState.FAILED,
            JobState.CANCELED,
        ],
    )
    def test_delete_removes_a_job_in_any_state_from_every_index(
        self, backend: Backend, state: JobState
    ) -> None:
        backend.enqueue(
            [new_job("doomed", run_at=NOW + 5 if state is JobState.SCHEDULED else None)], now=NOW
        )
        backend.enqueue([new_job("kept")], now=NOW)
        if state not in (JobState.QUEUED, JobState.SCHEDULED):
            record = claim_one(backend)
            if state is JobState.CANCELED:
                backend.cancel("doomed", now=NOW)
            elif state is not JobState.STARTED:
                complete(backend, outcome(record, state), NOW)
        before = stored(backend, "doomed")
        assert before.state is state
        assert backend.delete("doomed", now=NOW + 1) == before
        assert backend.get("doomed") is None
        assert backend.count([QUEUE]) == {QUEUE: {JobState.QUEUED: 1}}  # "kept" alone
        assert ids(backend.list_jobs([QUEUE], states=list(JobState))) == ["kept"]
        if before.lease_token is not None:
            assert backend.extend([("doomed", before.lease_token)], lease=LEASE, now=NOW) == [
                False
            ]
        assert backend.recover(now=NOW + 10**6) == []
        assert backend.purge(now=NOW + 10**9) == 0
        assert drain(backend, [QUEUE], now=NOW + 10) == ["kept"]

    def test_delete_of_an_unknown_job_is_none(self, backend: Backend) -> None:
        assert backend.delete("no-such-job", now=NOW) is None
