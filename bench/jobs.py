"""The benchmark's jobs: the same functions for every library.

``incr`` is the no-op job of the throughput figures: one Redis INCR on a
counter. The job that takes the counter to 1 and the one that takes it to the
drain's target note the time, so a drain is timed from the first job's start
to the last job's end, inside the workers, without interpreter start-up.

``stamp`` is the job of the latency figures: it records ``time.time()`` as it
starts, which the producer compares with the time it took before enqueueing.

Each process opens its own connection (never shared across a fork), to the
Redis database named by ``BENCH_REDIS_URL``.
"""

from __future__ import annotations

import os
import time

import redis

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
COUNTER = "bench:counter"
FIRST_AT = "bench:first_at"
LAST_AT = "bench:last_at"
STARTED = "bench:started"

#: The count at which a drain is complete (the harness sets it for each worker run).
TARGET = int(os.environ.get("BENCH_TARGET", "0"))

_client: redis.Redis | None = None
_client_pid = 0


def client() -> redis.Redis:
    """This process's connection to the benchmark's Redis database."""
    global _client, _client_pid  # noqa: PLW0603 -- one connection per process
    if _client is None or _client_pid != os.getpid():
        _client = redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
        _client_pid = os.getpid()
    return _client


def incr() -> None:
    """The no-op job: one INCR (plus one SET for the first and the last job of a drain)."""
    conn = client()
    count = conn.incr(COUNTER)
    if count == 1:
        conn.set(FIRST_AT, repr(time.time()))
    if count == TARGET:
        conn.set(LAST_AT, repr(time.time()))


def stamp() -> None:
    """The latency job: record when it started."""
    started = time.time()
    client().rpush(STARTED, repr(started))
