"""Managing jobs: the reference's job_list, job_show, job_cancel and job_clear.

The CLI and the web API call these functions and nothing else, so the two
cannot drift apart. Input is validated here (ValidationError names the
field), and every lookup is confined to this site's queues: another site's job
or a malformed id is simply "not found".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from conveyor import config as _config
from conveyor import limits
from conveyor.api import backend, job_from_id, queue_name_problem
from conveyor.backends import JobState
from conveyor.backends.control import QUIET, STOP
from conveyor.exceptions import (
    JobStateError,
    NoSuchJobError,
    NoSuchWorkerError,
    ValidationError,
)
from conveyor.job import Job, dictize_job, format_time
from conveyor.steering import check_queue_names, paused_queues, queue_pause, queue_resume

log = logging.getLogger("conveyor.jobs")

__all__ = [
    "check_queue_names",
    "clear_queues",
    "job_cancel",
    "job_clear",
    "job_count",
    "job_list",
    "job_requeue",
    "job_requeue_failed",
    "job_run_now",
    "job_show",
    "paused_queues",
    "queue_list",
    "queue_pause",
    "queue_resume",
    "worker_list",
    "worker_quiet",
    "worker_stop",
]


def _queue_list(queues: object) -> list[str] | None:
    if queues is None:
        return None
    if isinstance(queues, str) or not isinstance(queues, (list, tuple)):
        raise ValidationError({"queues": ["Not a list"]})
    for name in queues:
        problem = queue_name_problem(name)
        if problem:
            raise ValidationError({"queues": [problem]})
    return list(queues)


def _limit(
    limit: object, default: int, maximum: int = limits.MAX_LIST_LIMIT, name: str = "limit"
) -> int:
    if limit is None or limit == "":
        return default
    if isinstance(limit, bool):
        raise ValidationError({name: ["Invalid integer"]})
    if isinstance(limit, float) and limit.is_integer():
        limit = int(limit)
    if isinstance(limit, str):
        try:
            limit = int(limit.strip())
        except ValueError:
            raise ValidationError({name: ["Invalid integer"]}) from None
    if not isinstance(limit, int):
        raise ValidationError({name: ["Invalid integer"]})
    if limit < 0:
        raise ValidationError({name: ["Must be zero or more"]})
    if limit > maximum:
        raise ValidationError({name: [f"Must be at most {maximum}"]})
    return limit


def _states(states: object) -> list[JobState]:
    if states is None:
        return [JobState.QUEUED]
    if isinstance(states, str):
        states = [states]
    if not isinstance(states, (list, tuple)) or not states:
        raise ValidationError({"states": ["Not a list"]})
    chosen = []
    for state in states:
        try:
            chosen.append(JobState(state))
        except ValueError:
            known = ", ".join(s.value for s in JobState)
            raise ValidationError(
                {"states": [f"Unknown state {state!r} (one of {known})"]}
            ) from None
    return chosen


def _full_names(queues: list[str] | None, config: _config.Config) -> list[str]:
    if queues:
        return [config.queue_prefix + name for name in queues]
    return backend(config).queue_names(config.queue_prefix)


def job_list(
    queues: Sequence[str] | None = None,
    limit: int | None = None,
    ids_only: bool = False,
    states: Sequence[str] | None = None,
    offset: int = 0,
) -> list[Any]:
    """Jobs in the order workers will run them: the leftmost queue's first.

    ``queues`` defaults to every queue of this site (sorted by name);
    ``limit`` (default ``conveyor.jobs.default_list_limit``) caps the total;
    ``states`` defaults to ``["queued"]``. Returns dictized jobs, or their ids
    with ``ids_only``.
    """
    config = _config.current()
    chosen = _queue_list(queues)
    count = _limit(limit, config.default_list_limit)
    skip = _limit(offset, 0, limits.MAX_LIST_OFFSET, "offset")
    page = backend(config).list_jobs(
        _full_names(chosen, config), states=_states(states), offset=skip, limit=count
    )
    if ids_only:
        return [record.id for record in page.items]
    return [dictize_job(Job(record, config)) for record in page.items]


def job_count(queues: Sequence[str] | None = None, states: Sequence[str] | None = None) -> int:
    """How many jobs :func:`job_list` would find without a limit."""
    config = _config.current()
    page = backend(config).list_jobs(
        _full_names(_queue_list(queues), config), states=_states(states), limit=0
    )
    return page.total


def _require_id(id: object) -> str:
    if id is None or id == "":
        raise ValidationError({"id": ["Missing value"]})
    if not isinstance(id, str):
        raise NoSuchJobError(str(id))
    return id


def job_show(id: str) -> dict[str, Any]:
    """The dictized job; NoSuchJobError unless it is one of this site's jobs."""
    return dictize_job(job_from_id(_require_id(id)))


def job_cancel(id: str) -> None:
    """Cancel a job: a queued one is removed, a running one is stopped.

    A finished, failed or already canceled job raises JobStateError and is
    left as it is.
    """
    job = job_from_id(_require_id(id))
    record = backend().cancel(job.id, now=time.time())
    if record is None:  # ran to completion and was purged in between
        raise NoSuchJobError(job.id)
    log.info("Cancelled background job %s", job.id, extra={"job_id": job.id})


def clear_queues(queues: Sequence[str] | None = None) -> dict[str, int]:
    """Delete every queued and scheduled job of the given queues (default: all of this site's).

    Returns, per queue name (the ones given, or every queue of this site that
    holds any job record), how many jobs were deleted. Running jobs and the
    records of ended jobs are kept.
    """
    config = _config.current()
    chosen = _queue_list(queues)
    names = _full_names(chosen, config)
    cleared = backend(config).clear(names, now=time.time())
    prefix = len(config.queue_prefix)
    result = {}
    for name in names:
        short = name[prefix:]
        removed = cleared.get(name, 0)
        log.info(
            'Cleared background job queue "%s"',
            short,
            extra={"queue": short, "removed": removed},
        )
        result[short] = removed
    return result


def job_clear(queues: Sequence[str] | None = None) -> list[str]:
    """The reference's job_clear: :func:`clear_queues`, returning the names of the queues."""
    return list(clear_queues(queues))


def job_requeue(id: str) -> dict[str, Any]:
    """Put a failed or canceled job back on its queue; the job as it is now.

    Its attempts start again from zero; the errors of earlier attempts stay in
    its record. Any other state raises JobStateError and changes nothing.
    """
    job = job_from_id(_require_id(id))
    if not backend().requeue([job.id], now=time.time()):
        raise JobStateError(
            f"Job {job.id} is {job.state.value}; only failed or canceled jobs can be requeued"
        )
    log.info("Requeued background job %s", job.id, extra={"job_id": job.id})
    return job_show(job.id)


def job_requeue_failed(queues: Sequence[str] | None = None) -> list[str]:
    """Put every failed job of the given queues (default: all) back; their ids."""
    config = _config.current()
    names = _full_names(_queue_list(queues), config)
    store = backend(config)
    failed = store.list_jobs(names, states=[JobState.FAILED]).items
    moved = store.requeue([record.id for record in failed], now=time.time())
    for job_id in moved:
        log.info("Requeued background job %s", job_id, extra={"job_id": job_id})
    return moved


def job_run_now(id: str) -> dict[str, Any]:
    """Run a scheduled job now rather than at its time; the job as it is now (queued).

    It goes to the back of its queue, as when its time comes, keeping its
    attempts (a retry waiting out its delay runs as that attempt). A job in
    any other state raises JobStateError and changes nothing.
    """
    job = job_from_id(_require_id(id))
    job.run_now()
    return dictize_job(job)


def queue_list() -> list[dict[str, Any]]:
    """This site's queues, each with its number of jobs in every state, and whether paused.

    The queues that hold any job record, and the paused ones (with or without jobs).
    """
    config = _config.current()
    store = backend(config)
    paused = store.paused_queues(config.queue_prefix)
    names = sorted(set(store.queue_names(config.queue_prefix)) | set(paused))
    counts = store.count(names)
    prefix = len(config.queue_prefix)
    return [
        {
            "name": name[prefix:],
            **{state.value: counts.get(name, {}).get(state, 0) for state in JobState},
            "paused": name in paused,
        }
        for name in names
    ]


def worker_list() -> list[dict[str, Any]]:
    """Live workers serving this site's queues: where they run, what they do."""
    config = _config.current()
    prefix = len(config.queue_prefix)
    found = []
    for info in backend(config).workers(config.queue_prefix, now=time.time()):
        found.append(
            {
                "key": info.key,
                "name": info.name or f"{info.host.split('.')[0]}.{info.pid}",
                "host": info.host,
                "pid": info.pid,
                "queues": [name[prefix:] for name in info.queues],
                "state": info.state,
                "started": format_time(info.started_at),
                "heartbeat": format_time(info.heartbeat_at),
                "concurrency": info.concurrency,
                "jobs": list(info.jobs),
                "finished": info.finished,
                "failed": info.failed,
                "retried": info.retried,
            }
        )
    return found


def _live_worker(key_or_name: object) -> dict[str, Any]:
    """The worker_list() entry whose key, or else whose name, is ``key_or_name``."""
    if not isinstance(key_or_name, str) or not key_or_name:
        raise ValidationError({"worker": ["Missing value"]})
    workers = worker_list()
    found = [w for w in workers if w["key"] == key_or_name]
    found = found or [w for w in workers if w["name"] == key_or_name]
    if not found:
        raise NoSuchWorkerError(key_or_name)
    if len(found) > 1:
        keys = ", ".join(w["key"] for w in found)
        raise ValidationError(
            {"worker": [f"{len(found)} workers are named {key_or_name!r}: give a key ({keys})"]}
        )
    return found[0]


def _command(key_or_name: str, command: str) -> dict[str, Any]:
    worker = _live_worker(key_or_name)
    backend().command_worker(worker["key"], command, now=time.time())
    log.info(
        "Asked worker %s to %s",
        worker["name"],
        "stop" if command == STOP else "stop claiming jobs",
        extra={"worker": worker["name"], "worker_key": worker["key"]},
    )
    return worker


def worker_quiet(key_or_name: str) -> dict[str, Any]:
    """Ask a live worker to stop claiming jobs; the worker as listed before the change.

    It finishes the jobs it runs and stays registered, in state "quiet",
    until it is stopped. ``key_or_name`` is its key, or its name if no
    worker has that key (a name shared by several workers is refused).
    """
    return _command(key_or_name, QUIET)


def worker_stop(key_or_name: str) -> dict[str, Any]:
    """Ask a live worker to shut down warmly, as SIGTERM does; the worker as listed before.

    It stops claiming, finishes its running jobs, and exits. ``key_or_name``
    as for :func:`worker_quiet`.
    """
    return _command(key_or_name, STOP)
