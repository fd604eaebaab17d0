"""What every conformance group shares: a frozen clock, names, and small builders."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from conveyor.backends.base import (
    Backend,
    Completion,
    ErrorInfo,
    JobRecord,
    JobState,
    NewJob,
    Page,
)

NOW = 1_700_000_000.0
LEASE = 30.0
WORKER = "host:1234:conformance"
QUEUE = "conveyor:conformance:default"
OTHER_QUEUE = "conveyor:conformance:other"
THIRD_QUEUE = "conveyor:conformance:third"
ALL_STATES = tuple(JobState)
NOT_THE_LEASE = "a lease token nobody was given"


def new_job(job_id: str, queue: str = QUEUE, **changes: Any) -> NewJob:
    """A small job to store; ``changes`` override any NewJob field."""
    job = NewJob(
        id=job_id,
        queue=queue,
        func="conveyor_test_jobs:succeed",
        payload=b"payload of " + job_id.encode(),
        created_at=NOW - 1,
        timeout=180,
    )
    return dataclasses.replace(job, **changes)


def error(message: str, attempt: int = 1, at: float = NOW) -> ErrorInfo:
    """An error as a worker reports it."""
    return ErrorInfo(
        type="RuntimeError",
        message=message,
        traceback=f'Traceback (most recent call last):\nRuntimeError: "{message}"\n',
        attempt=attempt,
        at=at,
    )


def ids(records: Sequence[JobRecord] | Page) -> list[str]:
    """The ids of some records (or of a page's items), in order."""
    items = records.items if isinstance(records, Page) else records
    return [record.id for record in items]


def claim_one(
    backend: Backend, queues: Sequence[str] = (QUEUE,), now: float = NOW, worker: str = WORKER
) -> JobRecord:
    """Claim exactly one job, failing the test if there is none."""
    claimed = backend.claim(queues, worker=worker, lease=LEASE, now=now)
    assert len(claimed) == 1, f"expected one claimed job, got {ids(claimed)}"
    return claimed[0]


def drain(backend: Backend, queues: Sequence[str], now: float = NOW) -> list[str]:
    """Claim jobs one at a time until none is left; their ids in claim order."""
    claimed: list[str] = []
    while records := backend.claim(queues, worker=WORKER, lease=LEASE, now=now):
        claimed.extend(ids(records))
    return claimed


def outcome(record: JobRecord, state: JobState, **fields: Any) -> Completion:
    """The completion of a claimed record, holding its lease."""
    assert record.lease_token is not None
    return Completion(job_id=record.id, token=record.lease_token, state=state, **fields)


def complete(backend: Backend, done: Completion, now: float) -> None:
    """Record one outcome, failing the test if the backend refuses it."""
    assert backend.complete([done], now=now) == [True]


def stored(backend: Backend, job_id: str) -> JobRecord:
    """The record of a job that must exist."""
    record = backend.get(job_id)
    assert record is not None, f"job {job_id} is not stored"
    return record


def run_in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    """Start ``target`` in a thread; the list collects what it raised."""
    raised: list[BaseException] = []

    def guarded() -> None:
        try:
            target()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=guarded, daemon=True)
    thread.start()
    return thread, raised


def wait_for(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Look until ``condition`` holds; fail the test, naming ``what``, after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)
