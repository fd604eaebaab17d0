"""Huey with Redis storage: the consumer's defaults, and tuned.

The Huey instance below is what the consumer loads (``huey_consumer systems.huey_peer.huey``).
"""

from __future__ import annotations

import os

import jobs
from huey import RedisHuey

from systems import REDIS_URL, Context, Guarantees, System

huey = RedisHuey("bench", url=os.environ.get("BENCH_REDIS_URL", REDIS_URL))


@huey.task(name="bench.incr")
def incr() -> None:
    jobs.incr()


@huey.task(name="bench.stamp")
def stamp() -> None:
    jobs.stamp()


def _guarantees() -> Guarantees:
    return Guarantees(
        delivery="at-most-once",
        ack="on dequeue: the consumer pops the message (BRPOP) before the task runs",
        crash="a task running (or popped) when its consumer dies is lost",
        timeout="none by default; a task's timeout= is enforced (SIGALRM) by process workers"
        " only, thread workers ignore it",
        retries="none by default (retries= on request)",
        hoarding="none: each worker pops one task at a time",
        record="a task's return value if it is not None (store_none=False); nothing for"
        " these jobs",
    )


class HueySystem(System):
    def open(self, ctx: Context) -> None:
        super().open(ctx)

    def close(self) -> None:
        huey.storage.conn.connection_pool.disconnect()

    def enqueue_incr(self) -> None:
        incr()

    def enqueue_stamp(self) -> None:
        stamp()

    def consumer(self) -> list[str]:
        return [str(self.ctx.bin_dir / "huey_consumer"), "systems.huey_peer.huey"]

    def worker_commands(self, processes: int) -> list[list[str]]:
        if processes == 1:
            return [self.consumer()]
        return [[*self.consumer(), "--worker-type", "process", "--workers", str(processes)]]


class HueyTuned(HueySystem):
    def worker_commands(self, processes: int) -> list[list[str]]:
        options = ["--workers", "4", "--no-periodic", "--disable-health-check", "--quiet"]
        return [[*self.consumer(), *options] for _ in range(processes)]


SYSTEMS = [
    HueySystem(
        name="huey",
        family="huey",
        label="Huey (defaults)",
        config="consumer defaults: one worker thread, blocking BRPOP, INFO logging; two"
        " processes: --worker-type process --workers 2",
        tuned=False,
        guarantees=_guarantees(),
        process_model="one `huey_consumer` with one worker thread; for two,"
        " `--worker-type process --workers 2`",
    ),
    HueyTuned(
        name="huey-tuned",
        family="huey",
        label="Huey (tuned)",
        config="--workers 4 (threads) --no-periodic --disable-health-check --quiet",
        tuned=True,
        guarantees=_guarantees(),
        process_model="N separate `huey_consumer` processes, 4 worker threads each",
    ),
]
