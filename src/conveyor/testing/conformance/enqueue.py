"""Conformance: storing jobs, all or none."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from conveyor.backends.base import (
    Backend,
    JobRecord,
    JobState,
)
from conveyor.exceptions import DuplicateJobError, InvalidJobError
from conveyor.testing.conformance.support import (
    ALL_STATES,
    LEASE,
    NOW,
    OTHER_QUEUE,
    QUEUE,
    WORKER,
    claim_one,
    complete,
    ids,
    new_job,
    outcome,
    stored,
)


class EnqueueConformance:
    """Storing jobs."""

    @pytest.mark.parametrize(
        "change",
        [
            {"result_ttl": 10**16},  # PEXPIRE overflows on Redis (issue 15, finding 1)
            {"failure_ttl": 10**16},
            {"result_ttl": -2},
            {"timeout": 2**40},  # beyond PostgreSQL's integer
            {"max_attempts": 0},
            {"run_at": float("nan")},
        ],
    )
    def test_a_batch_with_a_number_no_store_can_hold_is_refused_whole(
        self, backend: Backend, change: dict[str, Any]
    ) -> None:
        # Straight to the backend, past the API's checks: refused up front, nothing stored.
        batch = [new_job("job-1"), new_job("job-2", **change), new_job("job-3")]
        with pytest.raises(InvalidJobError):
            backend.enqueue(batch, now=NOW)
        assert backend.count([QUEUE]) == {QUEUE: {}}
        assert backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW) == []

    def test_enqueued_job_is_stored_as_queued_with_every_field(self, backend: Backend) -> None:
        job = new_job(
            "job-1",
            payload=b"\x00\xff binary payload",
            title="A title",
            description="What it does",
            meta={"owner": "alice", "tags": ["a", "b"], "nested": {"n": 1}},
            timeout=3600,
            result_ttl=100,
            failure_ttl=200,
            max_attempts=5,
            retry={"delays": [1, 10, 60]},
            options={"on_success": "app.jobs:notify", "limits": [1, 2.5], "flag": True},
        )
        backend.enqueue([job], now=NOW)
        record = stored(backend, "job-1")
        assert record == JobRecord(
            id="job-1",
            queue=QUEUE,
            func="conveyor_test_jobs:succeed",
            payload=b"\x00\xff binary payload",
            state=JobState.QUEUED,
            created_at=NOW - 1,
            enqueued_at=NOW,
            timeout=3600,
            title="A title",
            description="What it does",
            meta={"owner": "alice", "tags": ["a", "b"], "nested": {"n": 1}},
            result_ttl=100,
            failure_ttl=200,
            max_attempts=5,
            retry={"delays": [1, 10, 60]},
            options={"on_success": "app.jobs:notify", "limits": [1, 2.5], "flag": True},
        )
        # Built as its constructor would build it: every field, and nothing else.
        assert vars(record) == vars(dataclasses.replace(record))
        claimed = claim_one(backend)
        assert vars(claimed) == vars(dataclasses.replace(claimed))

    def test_worker_options_come_back_from_every_read_and_none_stay_none(
        self, backend: Backend
    ) -> None:
        options = {"grace": 5, "callback": {"path": "app:f", "args": ["x"]}}
        # A batch (one statement for many jobs, on some stores) and a single job.
        backend.enqueue([new_job("w1", options=options), new_job("plain")], now=NOW)
        backend.enqueue([new_job("w2", options={"only": None})], now=NOW)
        listed = backend.list_jobs([QUEUE]).items
        assert [record.options for record in listed] == [options, {}, {"only": None}]
        claimed = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=3)
        assert [record.options for record in claimed] == [options, {}, {"only": None}]
        complete(backend, outcome(claimed[0], JobState.FINISHED), NOW + 1)
        assert stored(backend, "w1").options == options
        assert stored(backend, "plain").options == {}

    def test_enqueue_many_stores_every_job(self, backend: Backend) -> None:
        backend.enqueue(
            [new_job("a1"), new_job("b1", OTHER_QUEUE), new_job("a2")],
            now=NOW,
        )
        assert ids(backend.list_jobs([QUEUE, OTHER_QUEUE])) == ["a1", "a2", "b1"]
        assert stored(backend, "b1").queue == OTHER_QUEUE

    def test_enqueue_of_an_existing_id_raises_and_stores_nothing(self, backend: Backend) -> None:
        backend.enqueue([new_job("taken", title="first")], now=NOW)
        before = stored(backend, "taken")
        batch = [new_job("new-1"), new_job("taken", title="second"), new_job("new-2")]
        with pytest.raises(DuplicateJobError, match="taken") as raised:
            backend.enqueue(batch, now=NOW + 1)
        assert str(raised.value) == (
            "A job with ID 'taken' exists already and has not ended; nothing was enqueued"
        )
        assert backend.get("new-1") is None
        assert backend.get("new-2") is None
        assert stored(backend, "taken") == before
        assert backend.count([QUEUE]) == {QUEUE: {JobState.QUEUED: 1}}

    def test_enqueue_of_an_id_repeated_in_one_batch_stores_nothing(self, backend: Backend) -> None:
        batch = [new_job("first"), new_job("twice"), new_job("twice", OTHER_QUEUE)]
        with pytest.raises(DuplicateJobError) as raised:
            backend.enqueue(batch, now=NOW)
        assert raised.value.job_id == "twice"
        assert backend.get("first") is None
        assert backend.get("twice") is None
        assert backend.count([QUEUE, OTHER_QUEUE]) == {QUEUE: {}, OTHER_QUEUE: {}}

    def test_enqueue_of_no_jobs_stores_nothing(self, backend: Backend) -> None:
        backend.enqueue([], now=NOW)
        assert backend.list_jobs([QUEUE], states=ALL_STATES).total == 0

    def test_get_of_an_unknown_id_is_none(self, backend: Backend) -> None:
        assert backend.get("no-such-job") is None
