"""Moving a CKAN site's jobs still waiting in RQ into conveyor.

A site switching to conveyor may have jobs queued in RQ by its old setup
(``rq:queue:ckan:<site_id>:<queue>`` in the Redis at ``ckan.redis.url``).
:func:`move_rq_jobs` takes each waiting job, enqueues it on conveyor with
the same id, title, queue, function, arguments and timeout, and only then
removes it from RQ. A job that cannot be moved (its payload does not load,
its function no longer imports, its arguments are not conveyor-serializable)
stays in RQ and is reported.

Idempotent: a job whose id conveyor already holds is not enqueued again
(it was moved by an earlier run that stopped before removing it from RQ);
it is only removed from RQ.

Trust boundary: RQ stores pickled payloads, and unpickling runs code. They
are unpickled here by RQ itself, in the site's own environment (``ckan
conveyor move-rq-jobs`` with the site's ini), from the site's own Redis:
exactly what the site's RQ workers would have done with them. Never point
this at a Redis you do not trust as much as your RQ workers did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import rq
import rq.registry
from rq.exceptions import NoSuchJobError as RQNoSuchJob
from rq.job import Job as RQJob

import conveyor
from conveyor.exceptions import ConveyorError


@dataclass(frozen=True)
class Moved:
    """One RQ job handled by the mover."""

    id: str
    queue: str
    title: str | None
    outcome: str  # "moved", "already", "failed"
    reason: str = ""


@dataclass
class Report:
    """What a run of the mover did, job by job."""

    jobs: list[Moved] = field(default_factory=list)
    #: Jobs left in RQ's scheduled and deferred registries (not moved), by queue.
    not_waiting: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> int:
        return sum(1 for job in self.jobs if job.outcome == outcome)


def _waiting(connection: Any, prefix: str) -> Iterator[tuple[str, rq.Queue]]:
    """(short queue name, RQ queue) for the site's RQ queues, sorted by name."""
    queues = [q for q in rq.Queue.all(connection=connection) if q.name.startswith(prefix)]
    for queue in sorted(queues, key=lambda q: q.name):
        yield queue.name[len(prefix) :], queue


def _not_waiting(queue: rq.Queue) -> int:
    """Jobs of ``queue`` that RQ holds for later (scheduled, deferred): not moved."""
    return sum(
        registry(queue=queue).count
        for registry in (rq.registry.ScheduledJobRegistry, rq.registry.DeferredJobRegistry)
    )


def _call(job: RQJob) -> tuple[str, list[Any], dict[str, Any]]:
    """The job's function path and arguments (this unpickles the payload)."""
    return job.func_name, list(job.args), dict(job.kwargs)


def _move_one(job: RQJob, short: str) -> Moved:
    title = (job.meta or {}).get("title")
    try:
        conveyor.job_from_id(job.id)
    except conveyor.NoSuchJobError:
        pass
    else:
        return Moved(job.id, short, title, "already")
    try:
        func, args, kwargs = _call(job)
    except Exception as exc:  # whatever unpickling raises, e.g. a missing class
        return Moved(job.id, short, title, "failed", f"payload does not load: {exc!r}")
    timeout = job.timeout if job.timeout is not None else None
    try:
        conveyor.enqueue(
            func, args, kwargs, title=title, queue=short, job_id=job.id, timeout=timeout
        )
    except ConveyorError as exc:
        return Moved(job.id, short, title, "failed", str(exc))
    return Moved(job.id, short, title, "moved")


def move_rq_jobs(
    connection: Any, rq_prefix: str, on_job: Callable[[Moved], None] | None = None
) -> Report:
    """Move the jobs waiting in RQ queues named ``rq_prefix + <queue>`` into conveyor.

    ``connection`` is the site's Redis client; conveyor's configuration in
    force names the store and site the jobs go to. Moved (and already
    moved) jobs leave RQ; failed ones stay there. Jobs RQ holds for later
    (scheduled, deferred) are counted in ``Report.not_waiting``, not moved.
    """
    report = Report()
    for short, queue in _waiting(connection, rq_prefix):
        for job_id in queue.get_job_ids():
            try:
                job = RQJob.fetch(job_id, connection=connection)
            except RQNoSuchJob:
                queue.remove(job_id)  # a dangling id: RQ's own workers skip these too
                continue
            moved = _move_one(job, short)
            if moved.outcome != "failed":
                queue.remove(job_id)
                job.delete(remove_from_queue=False)
            report.jobs.append(moved)
            if on_job is not None:
                on_job(moved)
        later = _not_waiting(queue)
        if later:
            report.not_waiting[short] = later
    return report
