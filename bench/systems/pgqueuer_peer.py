"""PgQueuer on PostgreSQL, in its default configuration (``pgq run``'s defaults).

Its tables live in the schema ``bench_pgqueuer`` of the benchmark's database
(PgQueuer's own ``PGQUEUER_SCHEMA`` setting). A worker runs
``python -m systems.pgqueuer_peer``: ``pgqueuer.run(create)`` with the defaults
of ``pgq run`` and its INFO logging. (``pgq run`` itself fails at start with
the typer release pip installs beside it: its log-level option reaches the
logger as a string.) ``create`` connects with asyncpg (PgQueuer's first choice)
and registers the two entrypoints below.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

os.environ.setdefault("PGQUEUER_SCHEMA", "bench_pgqueuer")  # before pgqueuer reads it

import jobs

from systems import (
    POSTGRES_URL,
    Context,
    Guarantees,
    System,
    drop_schema,
    empty_schema,
    fresh_schema,
    postgres_unavailable,
    python_command,
)

SCHEMA = os.environ["PGQUEUER_SCHEMA"]
INCR = "bench_incr"
STAMP = "bench_stamp"


@contextlib.asynccontextmanager
async def create() -> AsyncIterator[object]:
    """The worker's PgQueuer: one asyncpg connection, the two entrypoints."""
    import asyncpg
    from pgqueuer import AsyncpgDriver, PgQueuer
    from pgqueuer.models import Job

    connection = await asyncpg.connect(os.environ.get("BENCH_POSTGRES_URL", POSTGRES_URL))
    pgq = PgQueuer(AsyncpgDriver(connection))

    # Plain async entrypoints that call the shared (blocking) job, as a user would write
    # a quick job; PgQueuer runs a sync def in a thread instead.
    @pgq.entrypoint(INCR)
    async def incr(job: Job) -> None:
        jobs.incr()

    @pgq.entrypoint(STAMP)
    async def stamp(job: Job) -> None:
        jobs.stamp()

    try:
        yield pgq
    finally:
        await connection.close()


class PgQueuerSystem(System):
    def unavailable(self) -> str | None:
        try:
            import asyncpg  # noqa: F401
            import pgqueuer  # noqa: F401
        except ImportError as exc:
            return f"PgQueuer is not installed: {exc}"
        return postgres_unavailable(POSTGRES_URL)

    def open(self, ctx: Context) -> None:
        super().open(ctx)
        import psycopg
        from pgqueuer.adapters.drivers.psycopg import SyncPsycopgDriver
        from pgqueuer.queries import SyncQueries

        fresh_schema(ctx.postgres_url, SCHEMA)
        asyncio.run(self._install(ctx.postgres_url))
        self.conn = psycopg.connect(ctx.postgres_url, autocommit=True)
        self.queries = SyncQueries(SyncPsycopgDriver(self.conn))

    @staticmethod
    async def _install(url: str) -> None:
        import asyncpg
        from pgqueuer import AsyncpgDriver, Queries

        connection = await asyncpg.connect(url)
        try:
            await Queries(AsyncpgDriver(connection)).install(create_schema=False)
        finally:
            await connection.close()

    def reset(self) -> None:
        empty_schema(self.ctx.postgres_url, SCHEMA)

    def close(self) -> None:
        self.conn.close()
        drop_schema(self.ctx.postgres_url, SCHEMA)

    def enqueue_incr(self) -> None:
        self.queries.enqueue(INCR, None)

    def enqueue_incr_many(self, count: int) -> None:
        self.queries.enqueue([INCR] * count, [None] * count, [0] * count)

    def enqueue_stamp(self) -> None:
        self.queries.enqueue(STAMP, None)

    def worker_commands(self, processes: int) -> list[list[str]]:
        return [python_command("-m", "systems.pgqueuer_peer") for _ in range(processes)]

    def worker_env(self) -> dict[str, str]:
        return {"PGQUEUER_SCHEMA": SCHEMA, "PGDSN": self.ctx.postgres_url}


SYSTEMS = [
    PgQueuerSystem(
        name="pgqueuer",
        family="pgqueuer",
        store="postgresql",
        label="PgQueuer (defaults)",
        config="`pgq run`'s defaults (through `pgqueuer.run()`): batch size 10, dequeue"
        " timeout 30 s, heartbeat timeout 30 s, LISTEN/NOTIFY wake-ups, unlimited"
        " concurrency per entrypoint (async entrypoints on one event loop), INFO logging;"
        " asyncpg in the worker, psycopg (SyncQueries) in the producer",
        tuned=False,
        guarantees=Guarantees(
            delivery="at-least-once",
            ack="the job row is picked (status 'picked', with a heartbeat) and deleted once"
            " the entrypoint returned; the outcome goes to the pgqueuer_log table",
            crash="a picked job whose heartbeat is older than the heartbeat timeout (30 s) is"
            " picked again by another worker",
            timeout="none by default",
            retries="none by default: a job that raised is logged and deleted"
            " (DatabaseRetryEntrypointExecutor on request)",
            hoarding="fetches up to 10 jobs per query (batch size)",
            record="the job row is deleted; a status row (successful / exception) goes to"
            " pgqueuer_log",
        ),
        bulk_api="SyncQueries.enqueue(list of entrypoints, list of payloads): one INSERT"
        " ... SELECT FROM unnest(...) per batch",
        drain_scale=1.0,
        process_model="N separate worker processes (one asyncio event loop each)",
    )
]


def work() -> None:
    """A worker, as ``pgq run systems.pgqueuer_peer:create`` would run it."""
    from pgqueuer import run
    from pgqueuer.core import logconfig

    logconfig.setup_fancy_logger(logconfig.LogLevel.INFO)
    asyncio.run(run(create))


if __name__ == "__main__":
    work()
