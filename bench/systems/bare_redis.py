"""The baseline: a bare redis-py loop that pops one job per round trip.

No acknowledgement, no retry, no record, no timeout: a list of function paths,
RPUSH to enqueue and BLPOP to take one. Anything that keeps its promises costs
more than this per job, unless it batches its round trips.

Run as a worker with ``python -m systems.bare_redis``.
"""

from __future__ import annotations

import importlib
import os
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

import redis

from systems import REDIS_URL, Context, Guarantees, System, python_command

QUEUE = "bench:bare:queue"
INCR = b"jobs:incr"
STAMP = b"jobs:stamp"


class BareRedis(System):
    def open(self, ctx: Context) -> None:
        super().open(ctx)
        self.conn = redis.Redis.from_url(ctx.redis_url)

    def close(self) -> None:
        self.conn.close()

    def enqueue_incr(self) -> None:
        self.conn.rpush(QUEUE, INCR)

    def enqueue_incr_many(self, count: int) -> None:
        self.conn.rpush(QUEUE, *([INCR] * count))

    def enqueue_stamp(self) -> None:
        self.conn.rpush(QUEUE, STAMP)

    def worker_commands(self, processes: int) -> list[list[str]]:
        return [python_command("-m", "systems.bare_redis") for _ in range(processes)]


def work() -> None:
    """Pop a function path, call the function, repeat until SIGTERM or SIGINT."""
    conn = redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", REDIS_URL))
    functions: dict[bytes, Callable[[], Any]] = {}
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        popped = conn.blpop([QUEUE], timeout=1)
        if popped is None:
            continue
        path = popped[1]
        function = functions.get(path)
        if function is None:
            module, name = path.decode().split(":")
            function = functions[path] = getattr(importlib.import_module(module), name)
        function()


SYSTEMS = [
    BareRedis(
        name="bare-redis",
        family="bare_redis",
        label="bare redis-py loop",
        config="BLPOP one function path per round trip, call it; RPUSH to enqueue",
        tuned=False,
        guarantees=Guarantees(
            delivery="at-most-once",
            ack="none: popped is gone",
            crash="a job popped by a dead worker is lost",
            timeout="none",
            retries="none",
            hoarding="none",
            record="none",
        ),
        bulk_api="RPUSH of the whole batch (one round trip)",
        process_model="N separate loop processes",
    )
]

if __name__ == "__main__":
    work()
