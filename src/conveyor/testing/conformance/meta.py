"""Conformance: a job's meta, saved by the running job (fenced by its lease) or by anyone."""

from __future__ import annotations

import dataclasses

from conveyor.backends.base import Backend, JobState
from conveyor.testing.conformance.support import (
    NOT_THE_LEASE,
    NOW,
    claim_one,
    complete,
    new_job,
    outcome,
    stored,
)

PROGRESS = {"progress": {"fraction": 0.5, "message": "half way ☃"}, "rows": [1, 2, {"a": None}]}


class MetaConformance:
    """``save_meta``: with the running job's lease token, or without one."""

    def test_running_job_saves_its_meta_with_its_lease_token(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        backend.enqueue([new_job("j1", meta={"source": "producer"})], now=NOW)
        record = claim_one(backend)
        assert record.lease_token is not None
        assert backend.save_meta("j1", PROGRESS, token=record.lease_token) is True
        seen = stored(other_backend, "j1")
        assert dict(seen.meta) == PROGRESS
        # Nothing else changes: the job still runs under the same lease.
        assert dataclasses.replace(seen, meta=record.meta) == record

    def test_meta_with_a_stale_token_is_refused(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1", meta={"kept": 1})], now=NOW)
        record = claim_one(backend)
        assert backend.save_meta("j1", PROGRESS, token=NOT_THE_LEASE) is False
        assert stored(backend, "j1") == record

    def test_meta_of_an_ended_job_with_its_old_token_is_refused(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1", meta={"kept": 1})], now=NOW)
        record = claim_one(backend)
        assert record.lease_token is not None
        complete(backend, outcome(record, JobState.FINISHED), NOW + 1)
        before = stored(backend, "j1")
        assert backend.save_meta("j1", PROGRESS, token=record.lease_token) is False
        assert stored(backend, "j1") == before

    def test_meta_of_a_canceled_job_with_its_old_token_is_refused(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1")], now=NOW)
        record = claim_one(backend)
        assert record.lease_token is not None
        backend.cancel("j1", now=NOW + 1)
        assert backend.save_meta("j1", PROGRESS, token=record.lease_token) is False
        assert dict(stored(backend, "j1").meta) == {}

    def test_meta_with_a_token_of_a_queued_job_is_refused(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1")], now=NOW)
        assert backend.save_meta("j1", PROGRESS, token=NOT_THE_LEASE) is False
        assert dict(stored(backend, "j1").meta) == {}

    def test_meta_without_a_token_is_saved_in_any_state(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        backend.enqueue([new_job("ended"), new_job("waiting")], now=NOW)
        claimed = claim_one(backend)
        assert claimed.id == "ended"
        complete(backend, outcome(claimed, JobState.FINISHED), NOW + 1)
        for job_id in ("ended", "waiting"):
            before = stored(backend, job_id)
            assert backend.save_meta(job_id, PROGRESS) is True
            after = stored(other_backend, job_id)
            assert dict(after.meta) == PROGRESS
            assert dataclasses.replace(after, meta=before.meta) == before

    def test_meta_can_be_emptied(self, backend: Backend) -> None:
        backend.enqueue([new_job("j1", meta={"a": 1})], now=NOW)
        assert backend.save_meta("j1", {}) is True
        assert dict(stored(backend, "j1").meta) == {}

    def test_meta_of_an_unknown_job_is_not_saved(self, backend: Backend) -> None:
        assert backend.save_meta("ghost", PROGRESS) is False
        assert backend.save_meta("ghost", PROGRESS, token=NOT_THE_LEASE) is False
        assert backend.get("ghost") is None
