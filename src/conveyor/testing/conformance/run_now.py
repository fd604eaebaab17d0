"""Conformance: running a scheduled job now, before its time."""

from __future__ import annotations

import time

from conveyor.backends.base import Backend, JobState
from conveyor.testing.conformance.support import (
    LEASE,
    NOW,
    OTHER_QUEUE,
    QUEUE,
    WORKER,
    claim_one,
    complete,
    drain,
    error,
    ids,
    new_job,
    outcome,
    run_in_thread,
    stored,
)

LATER = NOW + 3600


class RunNowConformance:
    """A scheduled job made due at once joins the back of its queue; nothing else moves."""

    def test_run_now_puts_a_scheduled_job_at_the_back_of_its_queue(self, backend: Backend) -> None:
        backend.enqueue([new_job("first"), new_job("later", run_at=LATER)], now=NOW)
        assert backend.run_now(["later"], now=NOW + 1) == ["later"]
        record = stored(backend, "later")
        assert (record.state, record.run_at) == (JobState.QUEUED, None)
        assert record.enqueued_at == NOW
        assert backend.count([QUEUE]) == {QUEUE: {JobState.QUEUED: 2}}
        assert ids(backend.list_jobs([QUEUE], states=[JobState.SCHEDULED])) == []
        assert ids(backend.list_jobs([QUEUE])) == ["first", "later"]
        assert drain(backend, [QUEUE], now=NOW + 1) == ["first", "later"]

    def test_a_job_run_now_goes_behind_jobs_queued_before_it(self, backend: Backend) -> None:
        backend.enqueue([new_job("later", run_at=LATER)], now=NOW)
        backend.enqueue([new_job("queued-after")], now=NOW + 1)
        backend.run_now(["later"], now=NOW + 2)
        backend.enqueue([new_job("queued-last")], now=NOW + 3)
        assert drain(backend, [QUEUE], now=NOW + 4) == ["queued-after", "later", "queued-last"]

    def test_run_now_keeps_a_waiting_retry_as_the_attempt_it_was(self, backend: Backend) -> None:
        backend.enqueue([new_job("flaky")], now=NOW)
        first = claim_one(backend)
        complete(
            backend,
            outcome(first, JobState.SCHEDULED, error=error("try again"), run_at=LATER),
            NOW + 1,
        )
        assert backend.run_now(["flaky"], now=NOW + 2) == ["flaky"]
        second = claim_one(backend, now=NOW + 2)
        assert second.id == "flaky"
        assert second.attempts == 2
        assert [e.message for e in second.errors] == ["try again"]

    def test_run_now_moves_each_id_once_in_the_order_given(self, backend: Backend) -> None:
        backend.enqueue(
            [
                new_job("a", run_at=LATER),
                new_job("b", run_at=LATER + 1),
                new_job("c", run_at=LATER + 2),
                new_job("elsewhere", OTHER_QUEUE, run_at=LATER),
            ],
            now=NOW,
        )
        moved = backend.run_now(["c", "elsewhere", "a", "c"], now=NOW + 1)
        assert moved == ["c", "elsewhere", "a"]
        assert ids(backend.list_jobs([QUEUE])) == ["c", "a"]
        assert ids(backend.list_jobs([QUEUE], states=[JobState.SCHEDULED])) == ["b"]
        assert drain(backend, [OTHER_QUEUE], now=NOW + 1) == ["elsewhere"]

    def test_run_now_leaves_other_states_and_unknown_ids_alone(self, backend: Backend) -> None:
        backend.enqueue([new_job("done"), new_job("running"), new_job("waiting")], now=NOW)
        finished = claim_one(backend)
        complete(backend, outcome(finished, JobState.FINISHED, result=b"r"), NOW + 1)
        running = claim_one(backend, now=NOW + 1)
        backend.enqueue([new_job("queued-second")], now=NOW + 2)
        assert backend.run_now(["done", "running", "waiting", "nobody"], now=NOW + 3) == []
        assert stored(backend, "done").state is JobState.FINISHED
        assert stored(backend, "running").lease_token == running.lease_token
        assert ids(backend.list_jobs([QUEUE])) == ["waiting", "queued-second"]
        assert backend.get("nobody") is None
        assert backend.run_now([], now=NOW + 3) == []

    def test_a_job_run_now_twice_moves_once(self, backend: Backend) -> None:
        backend.enqueue([new_job("later", run_at=LATER)], now=NOW)
        assert backend.run_now(["later"], now=NOW + 1) == ["later"]
        assert backend.run_now(["later"], now=NOW + 2) == []
        assert drain(backend, [QUEUE], now=NOW + 3) == ["later"]

    def test_a_job_run_now_elsewhere_after_an_empty_claim_is_claimable_at_once(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        backend.enqueue([new_job("later", run_at=LATER)], now=NOW)
        assert backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW) == []
        assert other_backend.run_now(["later"], now=NOW) == ["later"]
        assert ids(backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW)) == ["later"]

    def test_a_waiting_claim_takes_a_job_run_now_meanwhile(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        backend.enqueue([new_job("later", run_at=LATER)], now=NOW)
        assert backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW) == []
        mover, raised = run_in_thread(lambda: other_backend.run_now(["later"], now=NOW))
        began = time.monotonic()
        claimed = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, wait=60)
        elapsed = time.monotonic() - began
        mover.join(30)
        assert not mover.is_alive()
        assert raised == []
        assert ids(claimed) == ["later"]
        assert elapsed < 30, "the claim sat out its wait instead of taking the job run now"
