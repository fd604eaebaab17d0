"""conveyor on Redis, the backend for more than one machine."""

from __future__ import annotations

import importlib

from systems import REDIS_URL, Context
from systems._conveyor import ConveyorSystem, make


class ConveyorRedis(ConveyorSystem):
    def unavailable(self) -> str | None:
        try:
            module = importlib.import_module("conveyor.backends.redis")
        except Exception as exc:  # a backend being written may fail in any way
            return f"conveyor's Redis backend cannot be imported: {exc!r}"
        if not hasattr(module, "RedisBackend"):
            return "conveyor has no Redis backend yet (conveyor.backends.redis.RedisBackend)"
        from conveyor.backends import open_backend

        try:
            open_backend(REDIS_URL).close()
        except Exception as exc:
            return f"conveyor's Redis backend cannot be opened: {exc!r}"
        return None

    def backend_url(self, ctx: Context) -> str:
        return ctx.redis_url


SYSTEMS = [
    make(
        ConveyorRedis,
        "conveyor-redis",
        "conveyor (Redis)",
        "defaults: the Redis backend on the benchmark's database, INFO logging (two lines per"
        " job) to a file, job timeout 180 s, lease 30 s, children never recycled",
        "redis",
    )
]
