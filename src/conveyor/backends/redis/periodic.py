"""The Redis backend's periodic-job entries: what goes into and comes out of its scripts.

Keys: ``periodic:<name>`` (a hash: the declared schedule, time zone,
function and queue, ``enabled``, ``last_tick``, ``last_job_id``,
``last_enqueued_at``, ``declared_at``) and ``periodic-names`` (a set of the
names, for listing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from conveyor.backends.periodic import PeriodicDeclaration, PeriodicEntry

FIELDS = (
    "name",
    "schedule",
    "timezone",
    "func",
    "queue",
    "enabled",
    "last_tick",
    "last_job_id",
    "last_enqueued_at",
    "declared_at",
)


def declare_args(declarations: Sequence[PeriodicDeclaration], now: float) -> list[Any]:
    """The arguments of ``periodic_declare.lua`` after the namespace."""
    args: list[Any] = [repr(float(now)), len(declarations)]
    for d in declarations:
        args += [d.name, d.schedule, d.timezone, d.func, d.queue, repr(float(d.baseline))]
    return args


def entry(values: Sequence[bytes | None]) -> PeriodicEntry | None:
    """An entry from the FIELDS values of its hash; None if it has none."""
    text = [None if v is None else v.decode() for v in values]
    name, schedule, timezone, func, queue, enabled, last_tick, job_id, enqueued, declared = text
    if name is None or schedule is None or timezone is None or func is None or queue is None:
        return None
    return PeriodicEntry(
        name=name,
        schedule=schedule,
        timezone=timezone,
        func=func,
        queue=queue,
        enabled=enabled == "1",
        last_tick=None if not last_tick else float(last_tick),
        last_job_id=job_id or None,
        last_enqueued_at=None if not enqueued else float(enqueued),
        declared_at=float(declared or 0.0),
    )
