"""Conformance: claiming jobs in order, under a lease, each exactly once."""

from __future__ import annotations

import time

from conveyor.backends.base import (
    Backend,
    JobState,
)
from conveyor.testing.conformance.support import (
    LEASE,
    NOW,
    OTHER_QUEUE,
    QUEUE,
    THIRD_QUEUE,
    WORKER,
    claim_one,
    drain,
    ids,
    new_job,
    run_in_thread,
    stored,
)


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

    def test_one_batch_orders_its_jobs_as_one_call_each_would(self, backend: Backend) -> None:
        backend.enqueue([new_job("waiting")], now=NOW)
        batch = [
            new_job("back-1"),
            new_job("front-1", at_front=True),
            new_job("other-1", OTHER_QUEUE, at_front=True),
            new_job("back-2"),
            new_job("front-2", at_front=True),
            new_job("other-2", OTHER_QUEUE),
        ]
        backend.enqueue(batch, now=NOW + 1)
        expected = ["front-2", "front-1", "waiting", "back-1", "back-2"]
        assert drain(backend, [QUEUE]) == expected
        assert drain(backend, [OTHER_QUEUE]) == ["other-1", "other-2"]

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
