"""Conformance: listing, counting and naming queues, per site."""

from __future__ import annotations

from conveyor.backends.base import (
    Backend,
    JobRecord,
    JobState,
    Page,
)
from conveyor.testing.conformance.support import (
    ALL_STATES,
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


class ListingConformance:
    """get, list_jobs, queue_names and count."""

    def test_list_jobs_defaults_to_queued_jobs_in_claim_order(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1"), new_job("j2")], now=NOW)
        backend.enqueue([new_job("front", at_front=True), new_job("j3")], now=NOW + 1)
        claim_one(backend)  # "front" is started: no longer listed by default
        backend.enqueue([new_job("front-2", at_front=True)], now=NOW + 2)
        page = backend.list_jobs([QUEUE])
        assert ids(page) == ["front-2", "j1", "j2", "j3"]
        assert page.total == 4
        assert ids(page) == drain(backend, [QUEUE])

    def test_list_jobs_goes_queue_by_queue_as_given(self, backend: Backend) -> None:
        backend.enqueue(
            [new_job("a1"), new_job("b1", OTHER_QUEUE), new_job("a2"), new_job("b2", OTHER_QUEUE)],
            now=NOW,
        )
        assert ids(backend.list_jobs([OTHER_QUEUE, QUEUE])) == ["b1", "b2", "a1", "a2"]
        assert ids(backend.list_jobs([QUEUE, OTHER_QUEUE])) == ["a1", "a2", "b1", "b2"]
        assert ids(backend.list_jobs([OTHER_QUEUE])) == ["b1", "b2"]

    def _ran(self, backend: Backend, job_id: str, now: float) -> JobRecord:
        backend.enqueue([new_job(job_id)], now=now)
        record = claim_one(backend, now=now)
        assert record.id == job_id
        return record

    def test_list_jobs_orders_each_state_as_documented(self, backend: Backend) -> None:
        self._ran(backend, "started-1", NOW)
        self._ran(backend, "started-2", NOW + 5)
        for job_id, run_at in (("sched-late", NOW + 200), ("sched-soon", NOW + 100)):
            record = self._ran(backend, job_id, NOW + 6)
            complete(backend, outcome(record, JobState.SCHEDULED, run_at=run_at), NOW + 6)
        finished = self._ran(backend, "finished", NOW + 7)
        complete(backend, outcome(finished, JobState.FINISHED), NOW + 10)
        failed = self._ran(backend, "failed", NOW + 8)
        complete(backend, outcome(failed, JobState.FAILED, error=error("x")), NOW + 20)
        self._ran(backend, "canceled", NOW + 9)
        backend.cancel("canceled", now=NOW + 30)
        backend.enqueue([new_job("queued-1")], now=NOW + 40)
        backend.enqueue([new_job("queued-0", at_front=True)], now=NOW + 41)
        backend.enqueue([new_job("other", OTHER_QUEUE)], now=NOW + 42)

        def listed(*states: JobState) -> list[str]:
            return ids(backend.list_jobs([QUEUE], states=states))

        assert listed(JobState.SCHEDULED) == ["sched-soon", "sched-late"]
        assert listed(JobState.STARTED) == ["started-1", "started-2"]
        assert listed(JobState.FINISHED, JobState.FAILED, JobState.CANCELED) == [
            "canceled",
            "failed",
            "finished",
        ]
        assert listed(JobState.FAILED) == ["failed"]
        assert ids(backend.list_jobs([OTHER_QUEUE, QUEUE], states=ALL_STATES)) == [
            "other",
            "queued-0",
            "queued-1",
            "sched-soon",
            "sched-late",
            "started-1",
            "started-2",
            "canceled",
            "failed",
            "finished",
        ]

    def test_list_jobs_pages_with_offset_and_limit_and_counts_the_total(
        self, backend: Backend
    ) -> None:
        backend.enqueue([new_job(f"a{n}") for n in range(5)], now=NOW)
        backend.enqueue([new_job(f"b{n}", OTHER_QUEUE) for n in range(4)], now=NOW)
        queues = [QUEUE, OTHER_QUEUE]
        everything = backend.list_jobs(queues)
        assert everything.total == 9
        assert ids(everything) == [f"a{n}" for n in range(5)] + [f"b{n}" for n in range(4)]
        across = backend.list_jobs(queues, offset=3, limit=4)
        assert (ids(across), across.total) == (["a3", "a4", "b0", "b1"], 9)
        first = backend.list_jobs(queues, limit=2)
        assert (ids(first), first.total) == (["a0", "a1"], 9)
        tail = backend.list_jobs(queues, offset=8, limit=10)
        assert (ids(tail), tail.total) == (["b3"], 9)
        beyond = backend.list_jobs(queues, offset=20)
        assert (ids(beyond), beyond.total) == ([], 9)
        nothing = backend.list_jobs(queues, limit=0)
        assert (ids(nothing), nothing.total) == ([], 9)

    def test_list_jobs_of_unknown_queues_or_no_states_is_empty(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1")], now=NOW)
        assert backend.list_jobs([THIRD_QUEUE]) == Page(items=(), total=0)
        assert backend.list_jobs([], states=ALL_STATES) == Page(items=(), total=0)
        assert backend.list_jobs([QUEUE], states=()) == Page(items=(), total=0)

    def test_listed_records_equal_the_stored_ones(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1", meta={"m": 1}), new_job("j2")], now=NOW)
        record = claim_one(backend)
        complete(backend, outcome(record, JobState.FAILED, error=error("x")), NOW + 1)
        page = backend.list_jobs([QUEUE], states=ALL_STATES)
        assert list(page.items) == [stored(backend, "j2"), stored(backend, "j1")]

    def test_queue_names_lists_the_queues_of_one_prefix_only(self, backend: Backend) -> None:
        backend.enqueue(
            [
                new_job("d", "conveyor:site:default"),
                new_job("e1", "conveyor:site:emails"),
                new_job("e2", "conveyor:site:emails"),
                new_job("done", "conveyor:site:done"),
                new_job("gone", "conveyor:site:gone"),
                new_job("x", "conveyor:site2:default"),
                new_job("y", "conveyor:other:default"),
            ],
            now=NOW,
        )
        complete(
            backend, outcome(claim_one(backend, ["conveyor:site:done"]), JobState.FINISHED), NOW
        )
        backend.cancel("gone", now=NOW)
        assert backend.queue_names("conveyor:site:") == [
            "conveyor:site:default",
            "conveyor:site:done",
            "conveyor:site:emails",
        ]
        assert backend.queue_names("conveyor:site2:") == ["conveyor:site2:default"]
        assert backend.queue_names("conveyor:nobody:") == []

    def test_count_gives_the_records_per_state_of_each_queue(self, backend: Backend) -> None:
        backend.enqueue([new_job(f"j{n}") for n in range(7)], now=NOW)
        backend.enqueue([new_job("other", OTHER_QUEUE)], now=NOW)
        j0, j1, j2, j3 = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=4)
        complete(backend, outcome(j0, JobState.FINISHED), NOW)
        complete(backend, outcome(j1, JobState.FAILED, error=error("x")), NOW)
        complete(backend, outcome(j2, JobState.SCHEDULED, run_at=NOW + 100), NOW)
        assert backend.count([QUEUE, THIRD_QUEUE]) == {
            QUEUE: {
                JobState.QUEUED: 3,
                JobState.SCHEDULED: 1,
                JobState.STARTED: 1,
                JobState.FINISHED: 1,
                JobState.FAILED: 1,
            },
            THIRD_QUEUE: {},
        }
        backend.cancel(j3.id, now=NOW)
        assert backend.count([OTHER_QUEUE, QUEUE])[QUEUE][JobState.CANCELED] == 1
        assert backend.count([OTHER_QUEUE]) == {OTHER_QUEUE: {JobState.QUEUED: 1}}
