"""The worker's side of periodic jobs: noticing due ticks and taking them.

There is no separate scheduler process to keep single. Every worker
evaluates the periodic jobs of the queues it serves, in its loop, about once
a second at most; between ticks that costs a comparison with a time it
computed at the last tick. At a tick, each such worker asks the store to take
it (``Backend.claim_tick``): one succeeds, and enqueues the tick's job in
the same atomic step; the others are told it was taken.

A tick that passed while no worker ran is taken late, by the first worker to
look, under the job's ``missed`` policy: ``latest`` enqueues the latest such
tick once (never one job per missed tick), ``skip`` records it as taken and
enqueues nothing when it is more than ``SKIP_AFTER`` seconds late.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence

from conveyor import config as _config
from conveyor.api import build_job
from conveyor.backends.base import Backend, NewJob
from conveyor.backends.periodic import PeriodicDeclaration
from conveyor.exceptions import BackendError, ConveyorError, PeriodicJobError
from conveyor.job import format_time
from conveyor.periodic_jobs.declare import SKIP_AFTER, PeriodicJob

log = logging.getLogger("conveyor.worker")

#: The longest a worker goes without looking at the clock for due ticks.
LOOK_EVERY = 1.0


def declaration(job: PeriodicJob, config: _config.Config, now: float) -> PeriodicDeclaration:
    """What a store keeps about ``job``; a new entry starts at the latest tick before now."""
    return PeriodicDeclaration(
        name=config.queue_prefix + job.name,
        schedule=job.schedule.text,
        timezone=job.schedule.timezone,
        func=job.func,
        queue=config.queue_prefix + job.queue,
        baseline=job.schedule.latest(now),
    )


def tick_job(job: PeriodicJob, tick: float, config: _config.Config, now: float) -> NewJob:
    """The job enqueued for ``tick``: an ordinary job, whose meta names the periodic job."""
    return build_job(
        job.func,
        list(job.args),
        dict(job.kwargs),
        job.title or job.name,
        job.queue,
        config=config,
        now=now,
        timeout=job.timeout,
        meta={"periodic": job.name, "tick": tick},
    )


def check(jobs: Iterable[PeriodicJob], config: _config.Config, now: float) -> None:
    """Build each job's tick job once: anything enqueue() would refuse is refused now."""
    for job in jobs:
        try:
            tick_job(job, job.schedule.latest(now), config, now)
        except ConveyorError as exc:
            raise PeriodicJobError(
                f"Periodic job {job.name!r} cannot be enqueued: {exc}"
            ) from None


class Ticker:
    """The periodic jobs one worker evaluates, and when it looks at each next."""

    def __init__(
        self, jobs: Iterable[PeriodicJob], queues: Sequence[str], config: _config.Config
    ) -> None:
        served = set(queues)
        #: Only the jobs of the queues this worker serves (it could not run the others).
        self.jobs = [job for job in jobs if config.queue_prefix + job.queue in served]
        self.config = config
        self._next: dict[str, float] = {}
        self._started = False

    def poll(self, store: Backend) -> float:
        """Declare the jobs (the first time), take the due ticks; seconds until the next look."""
        if not self._started:
            self.start(store, time.time())
            self._started = True
        self.run_due(store, time.time())
        return min(max(self.due - time.time(), 0.0), LOOK_EVERY)

    def start(self, store: Backend, now: float) -> None:
        """Check and declare the jobs; the first look is at their latest tick (missed ones)."""
        check(self.jobs, self.config, now)
        if self.jobs:
            store.declare_periodic(
                [declaration(job, self.config, now) for job in self.jobs], now=now
            )
        self._next = {job.name: job.schedule.latest(now) for job in self.jobs}

    @property
    def due(self) -> float:
        """When a job next has a tick to take (seconds since the epoch; inf: never)."""
        return min(self._next.values(), default=math.inf)

    def run_due(self, store: Backend, now: float) -> int:
        """Take the due ticks of every job; how many jobs this worker enqueued."""
        enqueued = 0
        for job in self.jobs:
            if self._next[job.name] > now:
                continue
            tick = job.schedule.latest(now)
            if self._take(store, job, tick, now):
                enqueued += 1
            self._next[job.name] = job.schedule.next_after(tick)
        return enqueued

    def _take(self, store: Backend, job: PeriodicJob, tick: float, now: float) -> bool:
        """Ask the store for ``tick``; True if this worker enqueued its job."""
        name = self.config.queue_prefix + job.name
        skip = job.missed == "skip" and now - tick > SKIP_AFTER
        try:
            new = None if skip else tick_job(job, tick, self.config, now)
            if not store.claim_tick(name, tick, new, now=now):
                return False
        except BackendError:
            raise  # the loop backs off; the tick is looked at again
        except ConveyorError as exc:  # checked at start-up, so not expected: never fatal
            log.error(
                "Periodic job %s: the tick of %s was not enqueued: %s",
                job.name,
                format_time(tick),
                exc,
                extra={"periodic": job.name},
            )
            return False
        if new is None:
            log.info(
                "Periodic job %s: skipped the tick of %s, missed while no worker ran",
                job.name,
                format_time(tick),
                extra={"periodic": job.name},
            )
            return False
        log.info(
            'Periodic job %s: added job %s for the tick of %s to queue "%s"',
            job.name,
            new.id,
            format_time(tick),
            job.queue,
            extra={"periodic": job.name, "job_id": new.id, "queue": job.queue},
        )
        return True
