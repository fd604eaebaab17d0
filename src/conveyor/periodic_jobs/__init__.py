"""Periodic jobs: a function enqueued on a cron schedule or at an interval.

Declared in code::

    import conveyor

    @conveyor.periodic(cron="0 3 * * *", tz="Europe/Paris", queue="reports")
    def nightly_report():
        ...

or in the config file (``[conveyor:periodic:NAME]``). Workers take the
ticks themselves (see :mod:`conveyor.periodic_jobs.ticker`): no separate
scheduler process, and each tick is enqueued once however many workers run.
"""

from conveyor.periodic_jobs.declare import (
    MISSED_POLICIES,
    SKIP_AFTER,
    PeriodicJob,
    declared,
    periodic,
    register_periodic,
)
from conveyor.periodic_jobs.manage import (
    periodic_disable,
    periodic_enable,
    periodic_forget,
    periodic_list,
    periodic_run,
)
from conveyor.periodic_jobs.schedule import Cron, Every, Schedule

__all__ = [
    "MISSED_POLICIES",
    "SKIP_AFTER",
    "Cron",
    "Every",
    "PeriodicJob",
    "Schedule",
    "declared",
    "periodic",
    "periodic_disable",
    "periodic_enable",
    "periodic_forget",
    "periodic_list",
    "periodic_run",
    "register_periodic",
]
