"""procrastinate on PostgreSQL, in its default configuration.

Its schema (tables, types, functions) lives in the schema ``bench_procrastinate``
of the benchmark's database: every connection's search path is set to it.
The workers run ``procrastinate --app systems.procrastinate_peer.app worker``.
"""

from __future__ import annotations

import os

import jobs
from procrastinate import App, PsycopgConnector

from systems import (
    POSTGRES_URL,
    Context,
    Guarantees,
    System,
    drop_schema,
    empty_schema,
    fresh_schema,
    postgres_unavailable,
    with_search_path,
)

SCHEMA = "bench_procrastinate"
app = App(
    connector=PsycopgConnector(
        conninfo=with_search_path(os.environ.get("BENCH_POSTGRES_URL", POSTGRES_URL), SCHEMA)
    )
)


@app.task(name="bench.incr")
def incr() -> None:
    jobs.incr()


@app.task(name="bench.stamp")
def stamp() -> None:
    jobs.stamp()


class ProcrastinateSystem(System):
    def unavailable(self) -> str | None:
        return postgres_unavailable(POSTGRES_URL)

    def open(self, ctx: Context) -> None:
        super().open(ctx)
        fresh_schema(ctx.postgres_url, SCHEMA)
        self.opened = app.open()
        self.opened.__enter__()
        app.schema_manager.apply_schema()

    def reset(self) -> None:
        empty_schema(self.ctx.postgres_url, SCHEMA)

    def close(self) -> None:
        self.opened.__exit__(None, None, None)
        drop_schema(self.ctx.postgres_url, SCHEMA)

    def enqueue_incr(self) -> None:
        incr.defer()

    def enqueue_incr_many(self, count: int) -> None:
        incr.batch_defer(*({} for _ in range(count)))

    def enqueue_stamp(self) -> None:
        stamp.defer()

    def worker_commands(self, processes: int) -> list[list[str]]:
        command = [
            str(self.ctx.bin_dir / "procrastinate"),
            "--app",
            "systems.procrastinate_peer.app",
            "worker",
        ]
        return [command for _ in range(processes)]


SYSTEMS = [
    ProcrastinateSystem(
        name="procrastinate",
        family="procrastinate",
        store="postgresql",
        label="procrastinate (defaults)",
        config="`procrastinate worker` defaults: concurrency 1, LISTEN/NOTIFY wake-ups with a"
        " 5 s polling fallback, sync tasks run in a thread, psycopg pool",
        tuned=False,
        guarantees=Guarantees(
            delivery="at-most-once for a started job (it stays 'doing' if its worker dies)",
            ack="the job row is set to 'doing' when fetched and to 'succeeded' or 'failed'"
            " after the task; the row is kept (a result record)",
            crash="a job whose worker died stays 'doing'; the worker's heartbeat marks it"
            " stalled, and it is retried only by code that asks for stalled jobs",
            timeout="none",
            retries="none by default (retry= on request)",
            hoarding="none: one job fetched per free slot",
            record="the job row is kept with its status (no return value)",
        ),
        bulk_api="Task.batch_defer(...): one multi-row INSERT per batch",
        drain_scale=0.2,
        process_model="N separate `procrastinate worker` processes (asyncio, concurrency 1)",
    )
]
