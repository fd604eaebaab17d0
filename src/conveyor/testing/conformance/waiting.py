"""Conformance: waiting for a job to end (``wait_ended``)."""

from __future__ import annotations

import time

from conveyor.backends.base import Backend, JobState
from conveyor.testing.conformance.support import (
    NOW,
    claim_one,
    complete,
    error,
    new_job,
    outcome,
    run_in_thread,
)


class WaitConformance:
    """wait_ended: returns when the job ends, however it ends; or when the time is up."""

    def test_wait_returns_the_record_once_another_process_finishes_the_job(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        backend.enqueue([new_job("awaited")], now=NOW)
        record = claim_one(backend)

        def finish_soon() -> None:
            time.sleep(0.3)  # the waiter is waiting by then (if not, it finds it ended)
            complete(other_backend, outcome(record, JobState.FINISHED, result=b"j42"), NOW + 1)

        thread, raised = run_in_thread(finish_soon)
        ended = backend.wait_ended("awaited", timeout=30)
        thread.join(30)
        assert not raised
        assert ended is not None
        assert (ended.state, ended.result) == (JobState.FINISHED, b"j42")

    def test_wait_returns_a_failed_job_with_its_error(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        backend.enqueue([new_job("doomed")], now=NOW)
        record = claim_one(backend)
        complete(other_backend, outcome(record, JobState.FAILED, error=error("boom")), NOW)
        ended = backend.wait_ended("doomed", timeout=30)
        assert ended is not None
        assert ended.state is JobState.FAILED
        assert ended.error is not None
        assert ended.error.message == "boom"

    def test_wait_gives_up_when_the_time_is_up(self, backend: Backend) -> None:
        backend.enqueue([new_job("never")], now=NOW)
        began = time.monotonic()
        found = backend.wait_ended("never", timeout=0.3)
        assert found is not None
        assert found.state is JobState.QUEUED
        assert 0.15 <= time.monotonic() - began < 15  # it waited, and it did not hang

    def test_wait_for_a_job_that_is_gone_is_none(self, backend: Backend) -> None:
        assert backend.wait_ended("no-such-job", timeout=5) is None
        backend.enqueue([new_job("canceled")], now=NOW)
        backend.cancel("canceled", now=NOW)
        assert backend.wait_ended("canceled", timeout=5) is None
