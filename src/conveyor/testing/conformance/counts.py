"""Conformance: the kept counts agree with the records, through every move; per-minute stats."""

from __future__ import annotations

from collections.abc import Sequence

from conveyor.backends.base import Backend, JobState, MinuteStats
from conveyor.testing.conformance.support import (
    ALL_STATES,
    LEASE,
    NOW,
    OTHER_QUEUE,
    QUEUE,
    WORKER,
    claim_one,
    complete,
    error,
    new_job,
    outcome,
)

QUEUES = (QUEUE, OTHER_QUEUE)
SITE = "conveyor:conformance:"


def recount(backend: Backend, job_ids: Sequence[str]) -> dict[str, dict[JobState, int]]:
    """Per queue and state, how many of these jobs' records there are, read one by one.

    ``get()`` reads a record itself, so this counts the records, not any
    count the store keeps: the test names every id it ever used.
    """
    found: dict[str, dict[JobState, int]] = {queue: {} for queue in QUEUES}
    for job_id in job_ids:
        record = backend.get(job_id)
        if record is not None:
            per_state = found[record.queue]
            per_state[record.state] = per_state.get(record.state, 0) + 1
    return found


def assert_counts_agree(backend: Backend, job_ids: Sequence[str], step: str) -> None:
    """count(), the listings (totals and items) and queue_names() agree with the records."""
    expected = recount(backend, job_ids)
    assert backend.count(QUEUES) == expected, f"count() after {step}"
    for queue in QUEUES:
        for state in ALL_STATES:
            page = backend.list_jobs([queue], states=[state])
            assert page.total == expected[queue].get(state, 0), f"{queue} {state} after {step}"
            assert len(page.items) == page.total, f"{queue} {state} listing after {step}"
        mixed = backend.list_jobs([queue], states=ALL_STATES, limit=0)
        assert mixed.total == sum(expected[queue].values()), f"{queue} total after {step}"
    holding = [queue for queue in QUEUES if expected[queue]]
    assert backend.queue_names(SITE) == sorted(holding), f"queue_names() after {step}"


class CountsConformance:
    """count() (and the listings' totals) against a recount, after each kind of move."""

    def test_counts_agree_with_the_records_through_every_move(self, backend: Backend) -> None:
        at = NOW
        used = [f"q{i}" for i in range(6)] + ["o1", "o2", "later", "front", "unkept", "short"]

        def agree(step: str) -> None:
            assert_counts_agree(backend, used, step)

        agree("nothing")
        backend.enqueue([new_job(f"q{i}") for i in range(6)], now=at)
        backend.enqueue([new_job("o1", OTHER_QUEUE), new_job("o2", OTHER_QUEUE)], now=at)
        backend.enqueue([new_job("later", run_at=at + 50)], now=at)
        backend.enqueue([new_job("front", at_front=True)], now=at)
        agree("enqueue")
        first = claim_one(backend, now=at)
        second, third, fourth, fifth = backend.claim(
            [QUEUE], worker=WORKER, lease=LEASE, now=at, limit=4
        )
        agree("claim")
        complete(backend, outcome(first, JobState.FINISHED, result=b"r"), at + 1)
        agree("complete (finished)")
        complete(backend, outcome(second, JobState.FAILED, error=error("boom")), at + 1)
        agree("complete (failed)")
        retry = outcome(third, JobState.SCHEDULED, error=error("again"), run_at=at + 10)
        complete(backend, retry, at + 1)
        agree("complete (retry)")
        complete(backend, outcome(fourth, JobState.QUEUED), at + 1)
        agree("complete (released)")
        backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=at + 20, limit=1)
        agree("claim promoting a due retry")
        assert backend.cancel(fifth.id, now=at + 2) is not None
        agree("cancel (started)")
        assert backend.cancel("q5", now=at + 2) is not None
        agree("cancel (queued)")
        assert backend.delete("o1", now=at + 2) is not None
        agree("delete")
        assert backend.requeue([second.id, fifth.id], now=at + 3) == [second.id, fifth.id]
        agree("requeue")
        assert backend.recover(now=at + 2 * LEASE)  # the leases taken above have expired
        agree("recover")
        backend.enqueue([new_job(first.id)], now=at + 4)  # an ended job's id, reused
        agree("enqueue replacing an ended record")
        assert backend.clear([OTHER_QUEUE], now=at + 5) == {OTHER_QUEUE: 1}
        agree("clear")
        unkept = new_job("unkept", OTHER_QUEUE, result_ttl=0)
        backend.enqueue([unkept], now=at + 5)
        done = claim_one(backend, [OTHER_QUEUE], now=at + 5)
        complete(backend, outcome(done, JobState.FINISHED, result=b"r"), at + 6)
        agree("complete of a job whose record is not kept")
        short = new_job("short", OTHER_QUEUE, result_ttl=10)
        backend.enqueue([short], now=at + 6)
        done = claim_one(backend, [OTHER_QUEUE], now=at + 6)
        complete(backend, outcome(done, JobState.FINISHED, result=b"r"), at + 7)
        assert backend.purge(now=at + 100) >= 1
        agree("purge")

    def test_a_recovered_job_whose_attempts_are_spent_counts_as_failed(
        self, backend: Backend
    ) -> None:
        backend.enqueue([new_job("once", max_attempts=1)], now=NOW)
        claim_one(backend, now=NOW)
        assert [r.state for r in backend.recover(now=NOW + 2 * LEASE)] == [JobState.FAILED]
        assert backend.count([QUEUE]) == {QUEUE: {JobState.FAILED: 1}}
        [minute] = backend.stats(SITE, since=NOW, until=NOW + 2 * LEASE)
        assert (minute.finished, minute.failed, minute.run_count) == (0, 1, 1)
        assert minute.run_sum == 2 * LEASE

    def test_counts_of_queues_never_used_are_empty(self, backend: Backend) -> None:
        assert backend.count([QUEUE, OTHER_QUEUE]) == {QUEUE: {}, OTHER_QUEUE: {}}
        assert backend.count([]) == {}


class StatsConformance:
    """The per-minute statistics the store keeps as jobs end (for the dashboard's charts)."""

    def _run(
        self,
        backend: Backend,
        job_id: str,
        state: JobState,
        *,
        enqueued: float,
        started: float,
        ended: float,
        queue: str = QUEUE,
        result_ttl: int = 86_400,
    ) -> None:
        backend.enqueue([new_job(job_id, queue, result_ttl=result_ttl)], now=enqueued)
        record = claim_one(backend, [queue], now=started)
        fields = {"result": b"r"} if state is JobState.FINISHED else {"error": error("boom")}
        complete(backend, outcome(record, state, **fields), ended)

    def test_ended_jobs_are_counted_in_the_minute_they_ended_with_waits_and_runs(
        self, backend: Backend
    ) -> None:
        minute = (int(NOW) // 60 + 1) * 60  # a minute's start
        self._run(backend, "a", JobState.FINISHED, enqueued=minute, started=minute + 2,
                  ended=minute + 5)  # fmt: skip
        self._run(backend, "b", JobState.FAILED, enqueued=minute + 1, started=minute + 5,
                  ended=minute + 59)  # fmt: skip
        self._run(backend, "c", JobState.FINISHED, enqueued=minute + 10, started=minute + 61,
                  ended=minute + 70, queue=OTHER_QUEUE)  # fmt: skip
        self._run(backend, "d", JobState.FINISHED, enqueued=minute + 60, started=minute + 60.5,
                  ended=minute + 125, result_ttl=0)  # fmt: skip
        found = backend.stats(SITE, since=minute - 600, until=minute + 600)
        assert found == [
            MinuteStats(QUEUE, minute, 1, 1, 6.0, 2, 57.0, 2),
            MinuteStats(QUEUE, minute + 120, 1, 0, 0.5, 1, 64.5, 1),
            MinuteStats(OTHER_QUEUE, minute + 60, 1, 0, 51.0, 1, 9.0, 1),
        ]
        only = backend.stats(SITE, since=minute + 60, until=minute + 119)
        assert only == [MinuteStats(OTHER_QUEUE, minute + 60, 1, 0, 51.0, 1, 9.0, 1)]
        assert backend.stats("conveyor:another-site:", since=minute, until=minute + 600) == []

    def test_retries_releases_and_cancels_are_not_counted(self, backend: Backend) -> None:
        backend.enqueue([new_job("r"), new_job("q"), new_job("c")], now=NOW)
        retried, released, canceled = backend.claim(
            [QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=3
        )
        retry = outcome(retried, JobState.SCHEDULED, error=error("again"), run_at=NOW + 5)
        assert backend.complete([retry, outcome(released, JobState.QUEUED)], now=NOW + 1) == [
            True,
            True,
        ]
        assert backend.cancel(canceled.id, now=NOW + 1) is not None
        assert backend.stats(SITE, since=NOW - 60, until=NOW + 60) == []

    def test_a_refused_outcome_is_not_counted(self, backend: Backend) -> None:
        backend.enqueue([new_job("j")], now=NOW)
        record = claim_one(backend, now=NOW)
        assert backend.cancel(record.id, now=NOW) is not None  # the lease is revoked
        late = outcome(record, JobState.FINISHED, result=b"r")
        assert backend.complete([late], now=NOW + 1) == [False]
        assert backend.stats(SITE, since=NOW - 60, until=NOW + 60) == []

    def test_statistics_outlive_the_records_and_a_purge_within_the_retention(
        self, backend: Backend
    ) -> None:
        self._run(backend, "j", JobState.FINISHED, enqueued=NOW, started=NOW, ended=NOW + 1,
                  result_ttl=5)  # fmt: skip
        assert backend.purge(now=NOW + 3600) == 1
        assert backend.get("j") is None
        [minute] = backend.stats(SITE, since=NOW - 60, until=NOW + 60)
        assert minute.finished == 1
