"""Managing periodic jobs: list them, disable and enable them, forget them.

The list joins two sources: the jobs this process knows (the config file's,
and those declared in code in modules it imported) and the store's entries,
which the workers wrote when they started (so jobs declared in code that only
the workers import are listed too). Enabled or not is stored state, shared by
every worker; the CLI and the Python API call these same functions.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from conveyor import config as _config
from conveyor.api import backend, dispatch, new_job_id
from conveyor.backends.base import NewJob
from conveyor.backends.periodic import PeriodicEntry
from conveyor.exceptions import ConveyorError, NoSuchPeriodicJob, PeriodicJobError
from conveyor.job import Job, format_time
from conveyor.periodic_jobs.declare import PeriodicJob, declared
from conveyor.periodic_jobs.schedule import parse
from conveyor.periodic_jobs.ticker import declaration, tick_job


def _next_run(schedule: str, timezone: str, enabled: bool, now: float) -> float | None:
    if not enabled:
        return None
    try:
        return parse(schedule, timezone).next_after(now)
    except ConveyorError:  # declared by a newer conveyor, or a zone this host lacks
        return None


def _describe(schedule: str, timezone: str) -> str:
    return schedule if schedule.startswith("every ") else f"{schedule} ({timezone})"


def _dictize(
    name: str, entry: PeriodicEntry | None, job: PeriodicJob | None, prefix: str, now: float
) -> dict[str, Any]:
    if entry is not None:
        schedule, timezone, func = entry.schedule, entry.timezone, entry.func
        queue = entry.queue[len(prefix) :]
        enabled = entry.enabled
    else:
        assert job is not None
        schedule, timezone, func = job.schedule.text, job.schedule.timezone, job.func
        queue, enabled = job.queue, True
    return {
        "name": name,
        "schedule": _describe(schedule, timezone),
        "timezone": timezone,
        "func": func,
        "queue": queue,
        "enabled": enabled,
        "next_run": format_time(_next_run(schedule, timezone, enabled, now)),
        "last_tick": format_time(entry.last_tick if entry else None),
        "last_job_id": entry.last_job_id if entry else None,
        "last_enqueued": format_time(entry.last_enqueued_at if entry else None),
        "declared_here": job is not None,
        "in_store": entry is not None,
    }


def periodic_list() -> list[dict[str, Any]]:
    """This site's periodic jobs, by name: schedule, next run, last tick and last job.

    Times are UTC in the reference's format. ``declared_here`` says this
    process declares the job; ``in_store`` that a worker (or a command) has
    declared it to the store, which holds whether it is enabled.
    """
    config = _config.current()
    prefix = config.queue_prefix
    entries = {e.name[len(prefix) :]: e for e in backend(config).periodic_entries(prefix)}
    jobs = declared(config)
    now = time.time()
    return [
        _dictize(name, entries.get(name), jobs.get(name), prefix, now)
        for name in sorted(entries.keys() | jobs.keys())
    ]


def _set_enabled(name: str, enabled: bool) -> dict[str, Any]:
    config = _config.current()
    store = backend(config)
    full = config.queue_prefix + name
    entry = store.set_periodic_enabled(full, enabled)
    job = declared(config).get(name)
    if entry is None and job is not None:  # known here, but no worker has declared it yet
        store.declare_periodic([declaration(job, config, time.time())], now=time.time())
        entry = store.set_periodic_enabled(full, enabled)
    if entry is None:
        raise NoSuchPeriodicJob(name)
    return _dictize(name, entry, job, config.queue_prefix, time.time())


def periodic_disable(name: str) -> dict[str, Any]:
    """Stop enqueueing periodic job ``name`` on every worker, keeping its entry; as listed."""
    return _set_enabled(name, False)


def periodic_enable(name: str) -> dict[str, Any]:
    """Enqueue periodic job ``name`` again from its next tick (none passed while disabled)."""
    return _set_enabled(name, True)


def periodic_forget(name: str) -> None:
    """Delete the store's entry of a periodic job no longer declared (its jobs stay).

    A worker that still declares it creates a new entry when it starts.
    """
    config = _config.current()
    if not backend(config).forget_periodic(config.queue_prefix + name):
        raise NoSuchPeriodicJob(name)


def _like_last_run(entry: PeriodicEntry, name: str, now: float) -> NewJob:
    """A copy of the job the entry's latest tick enqueued (its arguments are known only
    from it), while its record is kept; PeriodicJobError otherwise."""
    record = backend().get(entry.last_job_id) if entry.last_job_id else None
    if record is None or record.func != entry.func or record.queue != entry.queue:
        raise PeriodicJobError(
            f"Periodic job {name!r} is declared only in the workers' code and its last job is"
            " not kept: its arguments are unknown here (name its module in"
            " conveyor.periodic.modules)"
        )
    return NewJob(
        id=new_job_id(),
        queue=record.queue,
        func=record.func,
        payload=record.payload,
        created_at=now,
        timeout=record.timeout,
        title=record.title,
        description=record.description,
        meta={"periodic": name, "run_now": True},
        result_ttl=record.result_ttl,
        failure_ttl=record.failure_ttl,
        max_attempts=record.max_attempts,
        retry=record.retry,
        options=record.options,
    )


def periodic_run(name: str) -> Job:
    """Enqueue one run of periodic job ``name`` now; its schedule is left as it is.

    The job is the one its next tick would enqueue (function, arguments,
    queue, timeout, title), with ``meta`` ``{"periodic": name, "run_now":
    true}`` in place of a tick; the next tick still runs at its time, and a
    disabled job can be run this way too. A job that only the workers
    declare (in code this process has not imported) is run as a copy of its
    last tick's job while that record is kept. NoSuchPeriodicJob if no job
    of that name is declared here or stored.
    """
    config = _config.current()
    now = time.time()
    job = declared(config).get(name)
    if job is not None:
        new = tick_job(job, now, config, now)
        new = dataclasses.replace(new, meta={"periodic": name, "run_now": True})
    else:
        prefix = config.queue_prefix
        entry = next(
            (e for e in backend(config).periodic_entries(prefix) if e.name == prefix + name),
            None,
        )
        if entry is None:
            raise NoSuchPeriodicJob(name)
        new = _like_last_run(entry, name, now)
    (stored,) = dispatch([new], config, now)
    return stored
