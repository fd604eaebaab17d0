"""Dramatiq with its Redis broker: defaults (8 threads), and a prefetch of 64.

The broker and actors below are what the workers load (``dramatiq systems.dramatiq_peer``).
"""

from __future__ import annotations

import os

import dramatiq
import jobs
from dramatiq.brokers.redis import RedisBroker

from systems import REDIS_URL, Context, Guarantees, System

broker = RedisBroker(url=os.environ.get("BENCH_REDIS_URL", REDIS_URL))
dramatiq.set_broker(broker)


@dramatiq.actor(actor_name="bench_incr")
def incr() -> None:
    jobs.incr()


@dramatiq.actor(actor_name="bench_stamp")
def stamp() -> None:
    jobs.stamp()


def _guarantees(prefetch: int) -> Guarantees:
    return Guarantees(
        delivery="at-least-once",
        ack="late: a message is acknowledged after its actor returned",
        crash="messages held by a dead worker (running or prefetched) are requeued by another"
        " worker's maintenance once the dead one's heartbeat is 60 s old",
        timeout="soft: the TimeLimit middleware (10 minutes) raises an exception in the"
        " worker thread; it cannot interrupt C code or a blocking call",
        retries="up to 20 retries with exponential backoff (Retries middleware)",
        hoarding=f"prefetches {prefetch} messages per process",
        record="none: the Results middleware is not on by default",
    )


class DramatiqSystem(System):
    prefetch = 0  # 0: Dramatiq's default (2 x threads)

    def open(self, ctx: Context) -> None:
        super().open(ctx)

    def close(self) -> None:
        broker.client.connection_pool.disconnect()

    def enqueue_incr(self) -> None:
        incr.send()

    def enqueue_incr_many(self, count: int) -> None:
        dramatiq.group(incr.message() for _ in range(count)).run()

    def enqueue_stamp(self) -> None:
        stamp.send()

    def worker_commands(self, processes: int) -> list[list[str]]:
        dramatiq_cli = str(self.ctx.bin_dir / "dramatiq")
        return [[dramatiq_cli, "systems.dramatiq_peer", "--processes", str(processes)]]

    def worker_env(self) -> dict[str, str]:
        return {"dramatiq_queue_prefetch": str(self.prefetch)} if self.prefetch else {}


class DramatiqPrefetch(DramatiqSystem):
    prefetch = 64


BULK = "group(...).run() (enqueues one message per actor call)"
PROCESS_MODEL = "one `dramatiq --processes N` (a watcher process and N worker processes)"
SYSTEMS = [
    DramatiqSystem(
        name="dramatiq",
        family="dramatiq",
        label="Dramatiq (8 threads)",
        config="defaults: 8 worker threads per process, prefetch 16 (2 x threads), default"
        " middleware (AgeLimit, TimeLimit, Callbacks, Pipelines, Retries)",
        tuned=False,
        guarantees=_guarantees(16),
        bulk_api=BULK,
        process_model=PROCESS_MODEL,
    ),
    DramatiqPrefetch(
        name="dramatiq-prefetch64",
        family="dramatiq",
        label="Dramatiq (prefetch 64)",
        config="8 worker threads per process, dramatiq_queue_prefetch=64, default middleware",
        tuned=True,
        guarantees=_guarantees(64),
        bulk_api=BULK,
        process_model=PROCESS_MODEL,
    ),
]
