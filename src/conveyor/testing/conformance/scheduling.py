"""Conformance: jobs stored for later (``run_at``), and ids reused after a job ended."""

from __future__ import annotations

import time

import pytest

from conveyor.backends.base import Backend, JobState
from conveyor.exceptions import DuplicateJobError
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


class SchedulingConformance:
    """Delayed jobs: stored at once as scheduled, claimable from their due time."""

    def test_a_job_with_a_run_at_is_stored_as_scheduled(self, backend: Backend) -> None:
        backend.enqueue([new_job("later", run_at=NOW + 60)], now=NOW)
        record = stored(backend, "later")
        assert record.state is JobState.SCHEDULED
        assert record.run_at == NOW + 60
        assert record.enqueued_at == NOW
        assert backend.count([QUEUE]) == {QUEUE: {JobState.SCHEDULED: 1}}
        assert ids(backend.list_jobs([QUEUE], states=[JobState.SCHEDULED])) == ["later"]
        assert ids(backend.list_jobs([QUEUE])) == []

    def test_a_scheduled_job_is_claimed_only_once_it_is_due(self, backend: Backend) -> None:
        backend.enqueue([new_job("later", run_at=NOW + 60), new_job("now")], now=NOW)
        assert drain(backend, [QUEUE], now=NOW + 59) == ["now"]
        record = claim_one(backend, now=NOW + 60)
        assert record.id == "later"
        assert record.state is JobState.STARTED
        assert record.run_at is None

    def test_scheduled_jobs_come_due_in_order_of_their_time(self, backend: Backend) -> None:
        backend.enqueue(
            [
                new_job("third", run_at=NOW + 30),
                new_job("first", run_at=NOW + 10),
                new_job("second", run_at=NOW + 20),
                new_job("elsewhere", OTHER_QUEUE, run_at=NOW + 5),
            ],
            now=NOW,
        )
        listed = backend.list_jobs([QUEUE], states=[JobState.SCHEDULED])
        assert ids(listed) == ["first", "second", "third"]
        assert drain(backend, [QUEUE], now=NOW + 40) == ["first", "second", "third"]
        assert drain(backend, [OTHER_QUEUE], now=NOW + 40) == ["elsewhere"]

    def test_a_waiting_claim_takes_a_scheduled_job_when_it_comes_due(
        self, backend: Backend
    ) -> None:
        backend.enqueue([new_job("soon", run_at=NOW + 0.5)], now=NOW)
        began = time.monotonic()
        claimed = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, wait=30)
        assert ids(claimed) == ["soon"]
        # Generous: only "it woke for the due time, it did not wait the 30 s out".
        assert time.monotonic() - began < 15

    def test_each_due_job_is_promoted_and_claimed_once_by_racing_claimers(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        backend.enqueue([new_job(f"due-{n}", run_at=NOW + n / 100) for n in range(40)], now=NOW)
        taken: dict[str, list[str]] = {"a": [], "b": []}

        def drain_with(store: Backend, into: list[str]) -> None:
            while records := store.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW + 1):
                into.extend(ids(records))

        threads = [
            run_in_thread(lambda: drain_with(backend, taken["a"])),
            run_in_thread(lambda: drain_with(other_backend, taken["b"])),
        ]
        for thread, raised in threads:
            thread.join(30)
            assert not raised
        everything = taken["a"] + taken["b"]
        assert sorted(everything) == sorted(f"due-{n}" for n in range(40))

    def test_a_scheduled_job_can_be_canceled_and_cleared(self, backend: Backend) -> None:
        backend.enqueue(
            [new_job("cancel-me", run_at=NOW + 60), new_job("clear-me", run_at=NOW + 60)],
            now=NOW,
        )
        canceled = backend.cancel("cancel-me", now=NOW)
        assert canceled is not None
        assert canceled.state is JobState.SCHEDULED
        assert backend.get("cancel-me") is None
        assert backend.clear([QUEUE], now=NOW) == {QUEUE: 1}
        assert backend.get("clear-me") is None
        assert drain(backend, [QUEUE], now=NOW + 120) == []


class IdReuseConformance:
    """An id of a job that ended can be used again (RQ's behaviour); a live one cannot."""

    @pytest.mark.parametrize("end", [JobState.FINISHED, JobState.FAILED, JobState.CANCELED])
    def test_the_id_of_an_ended_job_is_reused_replacing_its_record(
        self, backend: Backend, end: JobState
    ) -> None:
        backend.enqueue([new_job("fixed", OTHER_QUEUE, title="first")], now=NOW)
        record = claim_one(backend, (OTHER_QUEUE,))
        if end is JobState.CANCELED:
            backend.cancel("fixed", now=NOW + 1)
        else:
            fields = {"error": error("boom")} if end is JobState.FAILED else {}
            complete(backend, outcome(record, end, **fields), NOW + 1)
        assert stored(backend, "fixed").state is end
        backend.enqueue([new_job("fixed", title="second", run_at=NOW + 50)], now=NOW + 2)
        again = stored(backend, "fixed")
        assert (again.state, again.queue, again.title) == (JobState.SCHEDULED, QUEUE, "second")
        assert (again.attempts, again.errors, again.result, again.ended_at) == (0, (), None, None)
        # The old record left every index: listings, counts and purges do not see it.
        assert backend.count([OTHER_QUEUE]) == {OTHER_QUEUE: {}}
        assert backend.list_jobs([OTHER_QUEUE], states=list(JobState)).total == 0
        backend.purge(now=NOW + 10**9)
        assert stored(backend, "fixed").state is JobState.SCHEDULED
        assert ids(backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW + 50)) == ["fixed"]

    @pytest.mark.parametrize("live", ["queued", "scheduled", "started"])
    def test_the_id_of_a_live_job_is_refused_and_nothing_changes(
        self, backend: Backend, live: str
    ) -> None:
        backend.enqueue([new_job("ended")], now=NOW)
        complete(backend, outcome(claim_one(backend), JobState.FINISHED), NOW)
        backend.enqueue(
            [new_job("live", run_at=NOW + 60 if live == "scheduled" else None)], now=NOW
        )
        if live == "started":
            claim_one(backend)
        before_live, before_ended = stored(backend, "live"), stored(backend, "ended")
        batch = [new_job("fresh"), new_job("ended", title="again"), new_job("live")]
        with pytest.raises(DuplicateJobError, match="live"):
            backend.enqueue(batch, now=NOW + 1)
        assert backend.get("fresh") is None
        assert stored(backend, "live") == before_live
        assert stored(backend, "ended") == before_ended  # not replaced either

    def test_an_id_repeated_in_one_batch_is_refused_even_if_its_job_ended(
        self, backend: Backend
    ) -> None:
        backend.enqueue([new_job("twice")], now=NOW)
        complete(backend, outcome(claim_one(backend), JobState.FINISHED), NOW)
        with pytest.raises(DuplicateJobError, match="twice"):
            backend.enqueue([new_job("twice"), new_job("twice")], now=NOW + 1)
        assert stored(backend, "twice").state is JobState.FINISHED

    def test_two_producers_reusing_an_ended_id_at_once_store_one_job(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        backend.enqueue([new_job("contended")], now=NOW)
        complete(backend, outcome(claim_one(backend), JobState.FINISHED), NOW)
        outcomes: dict[str, str] = {}

        def reuse(store: Backend, title: str) -> None:
            try:
                store.enqueue([new_job("contended", title=title)], now=NOW + 1)
            except DuplicateJobError:
                outcomes[title] = "refused"
            else:
                outcomes[title] = "stored"

        threads = [
            run_in_thread(lambda: reuse(backend, "one")),
            run_in_thread(lambda: reuse(other_backend, "two")),
        ]
        for thread, raised in threads:
            thread.join(30)
            assert not raised
        assert sorted(outcomes.values()) == ["refused", "stored"]
        winner = next(title for title, result in outcomes.items() if result == "stored")
        record = stored(backend, "contended")
        assert (record.state, record.title) == (JobState.QUEUED, winner)
        assert drain(backend, [QUEUE], now=NOW + 2) == ["contended"]
