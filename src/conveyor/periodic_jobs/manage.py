"""Managing periodic jobs: list them, disable and enable them, forget them.

The list joins two sources: the jobs this process knows (the config file's,
and those declared in code in modules it imported) and the store's entries,
which the workers wrote when they started (so jobs declared in code that only
the workers import are listed too). Enabled or not is stored state, shared by
every worker; the CLI and the Python API call these same functions.
"""

from __future__ import annotations

import time
from typing import Any

from conveyor import config as _config
from conveyor.api import backend
from conveyor.backends.periodic import PeriodicEntry
from conveyor.exceptions import ConveyorError, NoSuchPeriodicJob
from conveyor.job import format_time
from conveyor.periodic_jobs.declare import PeriodicJob, declared
from conveyor.periodic_jobs.schedule import parse
from conveyor.periodic_jobs.ticker import declaration


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
