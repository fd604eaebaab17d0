"""Running jobs in the test's own process, instead of in a worker.

Two ways, for two kinds of test:

- :func:`run_synchronously`: while it is active, every ``enqueue()``,
  ``enqueue_job()`` and ``enqueue_many()`` runs its job at once and returns
  when the job is done. Nothing is stored: the returned Job is built from the
  outcome (its ``state``, ``result`` and ``error``), and ``job_from_id``
  does not find it.
- :func:`run_jobs`: jobs are enqueued and stored as usual; the test then
  runs what is queued, one job after another, and gets the jobs back with
  their stored outcome.

Both go through enqueue()'s real checks and serialization, and the job
function gets its arguments as a worker would (decoded from the stored
payload, so a tuple arrives as a list): an argument that could not be
stored fails the test. Both run jobs in this process, without forking, so
a debugger, ``mock.patch`` and coverage see the job's code. What a worker
adds around a job is not applied: no timeout, no child process to crash.

By default a job's exception reaches the caller (``raise_errors=True``),
after its outcome is recorded. With ``raise_errors=False`` it is only
recorded: the Job is ``failed``, with the error and its traceback (a
``KeyboardInterrupt`` is recorded too, then always propagates, so Ctrl+C
still stops a test run).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from conveyor import api
from conveyor import config as _config
from conveyor.backends import Backend, Completion, JobRecord, JobState, NewJob
from conveyor.exceptions import JobStateError
from conveyor.execution import run_job
from conveyor.job import Job
from conveyor.retry import Retry

log = logging.getLogger("conveyor.testing")

#: Long enough that no other worker recovers a job while a test runs it.
_LEASE = 86_400.0


def _worker_key() -> str:
    return f"conveyor:worker:testing-{os.getpid()}"


# -- running one job ---------------------------------------------------------------
class _Host:
    """A job run here: its meta is kept in its record and, under run_jobs(), stored.

    Under run_jobs() the job holds a lease, and its meta is saved with the
    lease token, as a worker's supervisor saves it.
    """

    def __init__(self, record: JobRecord, config: _config.Config, store: Backend | None) -> None:
        self.record = record
        self.config = config
        self.store = store
        self._job: Job | None = None

    def job(self) -> Job:
        if self._job is None:
            self._job = Job(self.record, self.config, meta_saver=self.save_meta)
        return self._job

    def save_meta(self, meta: dict[str, Any]) -> None:
        store, record = self.store, self.record
        if store is not None and not store.save_meta(record.id, meta, token=record.lease_token):
            raise JobStateError(
                f"Job {record.id} no longer holds its lease (canceled): its meta was not saved"
            )
        self.record = replace(record, meta=meta)


def _run(
    record: JobRecord, config: _config.Config, store: Backend | None = None
) -> tuple[JobRecord, BaseException | None]:
    """Run a started job here; its ended record, and the exception it raised if any."""
    host = _Host(record, config, store)
    ran = run_job(
        record.func, record.payload, record.attempts, host, serializer_name=config.serializer
    )
    record = host.record  # with the meta the job saved
    if ran.warning:
        log.warning("Job %s: %s", record.id, ran.warning, extra={"job_id": record.id})
    if ran.ok:
        ended = replace(record, state=JobState.FINISHED, ended_at=time.time(), result=ran.result)
        return ended, None
    assert ran.error is not None
    failed = replace(
        record,
        state=JobState.FAILED,
        ended_at=time.time(),
        errors=(*record.errors, ran.error),
    )
    return failed, ran.exception


def _raises(exc: BaseException, raise_errors: bool) -> bool:
    """Whether a job's exception reaches the caller (Ctrl+C always does: it stops the tests)."""
    return raise_errors or isinstance(exc, KeyboardInterrupt)


# -- run_synchronously -------------------------------------------------------------
def _started(job: NewJob, now: float) -> JobRecord:
    return JobRecord.of(
        job,
        state=JobState.STARTED,
        enqueued_at=now,
        attempts=1,
        started_at=time.time(),
        worker=_worker_key(),
    )


@contextlib.contextmanager
def run_synchronously(*, raise_errors: bool = True) -> Iterator[list[Job]]:
    """Run every job enqueued inside the block at once, in this process.

    Yields the list of jobs run so far, in the order they ended (it grows as
    jobs run), each with its outcome. A job runs once: retry policies are not
    applied. Jobs enqueued by a job run at once too, inside it. Applies to
    the whole process (every thread); blocks may nest, the innermost wins.

    ::

        with conveyor.testing.run_synchronously() as ran:
            create_dataset()              # enqueues and runs its jobs here
        assert [job.state for job in ran] == ["finished"]
    """
    ran: list[Job] = []

    def dispatch(jobs: Sequence[NewJob], config: _config.Config, now: float) -> list[Job]:
        # The jobs were all validated before the first runs (enqueue_many is all or none).
        done = []
        for new in jobs:
            record, exc = _run(_started(new, now), config)
            job = Job(record, config)
            ran.append(job)
            done.append(job)
            if exc is not None and _raises(exc, raise_errors):
                raise exc
        return done

    previous = api.use_dispatch(dispatch)
    try:
        yield ran
    finally:
        api.use_dispatch(previous)


# -- run_jobs ----------------------------------------------------------------------
def _completion(started: JobRecord, ended: JobRecord) -> Completion:
    """What a worker would record for this run: finished, failed, or a retry."""
    assert started.lease_token is not None
    if ended.state is JobState.FINISHED:
        return Completion(started.id, started.lease_token, JobState.FINISHED, result=ended.result)
    error = ended.errors[-1]
    policy = Retry.from_dict(started.retry) if started.retry else None
    if policy is None or started.attempts > policy.max:
        return Completion(started.id, started.lease_token, JobState.FAILED, error=error)
    return Completion(
        started.id,
        started.lease_token,
        JobState.SCHEDULED,
        error=error,
        run_at=time.time() + policy.delay(started.attempts),
    )


def _queue_names(
    queues: Sequence[str] | str | None, config: _config.Config, store: Backend
) -> list[str]:
    if queues is None:
        return store.queue_names(config.queue_prefix)
    if isinstance(queues, str):
        queues = [queues]
    return [config.queue_prefix + api.check_queue_name(name) for name in queues]


def _run_claimed(
    store: Backend, started: JobRecord, config: _config.Config
) -> tuple[Job, BaseException | None]:
    """Run one claimed job and record its outcome; the job as stored, and what it raised."""
    ended, exc = _run(started, config, store)
    completion = _completion(started, ended)
    store.complete([completion], now=time.time())
    stored = store.get(started.id)  # None if its record is not kept (result_ttl=0)
    if stored is None:
        stored = replace(ended, lease_token=None, state=completion.state, run_at=completion.run_at)
    return Job(stored, config), exc


def run_jobs(queues: Sequence[str] | str | None = None, *, raise_errors: bool = True) -> list[Job]:
    """Run the queued jobs now, in this process, until the queues are empty; the jobs that ran.

    ``queues`` are queue names, leftmost first (default: every queue of
    this site, by name). Jobs enqueued by the jobs that run are run too, and
    so are retries that are due at once. Each job is claimed and completed
    in the job store as a worker would, so the returned jobs (in the order
    they ran, one entry per run) hold their stored state, result and error.

    With ``raise_errors`` (the default) the first job that raises stops the
    run: its failure (or retry) is recorded, then its exception propagates
    and the jobs after it stay queued.
    """
    config = _config.current()
    store = api.backend(config)
    ran: list[Job] = []
    while True:
        names = _queue_names(queues, config, store)
        claimed = (
            store.claim(names, worker=_worker_key(), lease=_LEASE, now=time.time(), limit=1)
            if names
            else []
        )
        if not claimed:
            return ran
        job, exc = _run_claimed(store, claimed[0], config)
        ran.append(job)
        if exc is not None and _raises(exc, raise_errors):
            raise exc
