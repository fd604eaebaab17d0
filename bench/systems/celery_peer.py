"""Celery with its Redis broker: the default prefork pool, and the solo pool tuned.

The Celery app below is what the workers load (``celery -A systems.celery_peer``).
"""

from __future__ import annotations

import os

import jobs
from celery import Celery, group

from systems import REDIS_URL, Context, Guarantees, System

app = Celery("bench", broker=os.environ.get("BENCH_REDIS_URL", REDIS_URL), set_as_current=False)
# Without this Celery 5 warns at every start; it changes nothing measured.
app.conf.broker_connection_retry_on_startup = True


@app.task(name="bench.incr")
def incr() -> None:
    jobs.incr()


@app.task(name="bench.stamp")
def stamp() -> None:
    jobs.stamp()


def _guarantees(solo: bool) -> Guarantees:
    return Guarantees(
        delivery="at-most-once for a started task (acks_late is off by default)",
        ack="early: the message is acknowledged just before the task starts",
        crash="a task running when its worker dies is lost; prefetched, unstarted messages"
        " come back after the Redis visibility timeout (1 hour)",
        timeout="none: no time limit by default"
        + (" (the solo pool cannot enforce one)" if solo else ""),
        retries="none by default (autoretry_for / self.retry on request)",
        record="none: no result backend is configured by default",
        hoarding=f"prefetches {'64' if solo else '4'} messages per process"
        " (worker_prefetch_multiplier)",
    )


class CelerySystem(System):
    solo = False

    def open(self, ctx: Context) -> None:
        super().open(ctx)
        if ctx.redis_url != app.conf.broker_url:
            app.conf.broker_url = ctx.redis_url

    def close(self) -> None:
        app.pool.force_close_all()

    def enqueue_incr(self) -> None:
        incr.delay()

    def enqueue_incr_many(self, count: int) -> None:
        group(incr.s() for _ in range(count)).apply_async()

    def enqueue_stamp(self) -> None:
        stamp.delay()

    def worker_commands(self, processes: int) -> list[list[str]]:
        celery = [str(self.ctx.bin_dir / "celery"), "-A", "systems.celery_peer", "worker"]
        if not self.solo:
            return [[*celery, "--concurrency", str(processes), "--hostname", "bench0@%h"]]
        return [
            [
                *celery,
                "--pool",
                "solo",
                "--concurrency",
                "1",
                "--prefetch-multiplier",
                "64",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname",
                f"bench{i}@%h",
            ]
            for i in range(processes)
        ]


class CelerySolo(CelerySystem):
    solo = True


BULK = "group(...).apply_async() (publishes one message per task)"
SYSTEMS = [
    CelerySystem(
        name="celery-prefork",
        family="celery",
        label="Celery (prefork)",
        config="defaults: prefork pool, prefetch multiplier 4, gossip/mingle/heartbeat on,"
        " WARNING logging, no result backend",
        tuned=False,
        guarantees=_guarantees(solo=False),
        bulk_api=BULK,
        drain_scale=0.5,
        process_model="one `celery worker --concurrency N` (a main process and N pool processes)",
    ),
    CelerySolo(
        name="celery-solo",
        family="celery",
        label="Celery (solo, tuned)",
        config="solo pool (tasks run in the worker process), prefetch multiplier 64,"
        " --without-gossip --without-mingle --without-heartbeat, no result backend",
        tuned=True,
        guarantees=_guarantees(solo=True),
        bulk_api=BULK,
        drain_scale=0.5,
        process_model="N separate `celery worker --pool solo` processes",
    ),
]
