"""Huey with its SQLite storage (SqliteHuey), consumer defaults, beside conveyor on SQLite.

SqliteHuey's defaults: WAL journal, and ``synchronous`` left at SQLite's own
default, FULL (its ``fsync`` option unset): every commit is synced to disk.
conveyor's SQLite default is WAL with ``synchronous=NORMAL`` (a commit is synced
at checkpoints, so a power cut can lose the last commits but never corrupts).

The file is named by ``BENCH_HUEY_SQLITE``; the harness makes its tables
before the workers start, so the module never creates a file when imported.
"""

from __future__ import annotations

import os
from pathlib import Path

import jobs
from huey import SqliteHuey

from systems import Context, Guarantees, System

huey = SqliteHuey(
    "bench",
    filename=os.environ.get("BENCH_HUEY_SQLITE", "huey-bench.sqlite3"),
    create_tables=False,
)


@huey.task(name="bench.incr")
def incr() -> None:
    jobs.incr()


@huey.task(name="bench.stamp")
def stamp() -> None:
    jobs.stamp()


class HueySqlite(System):
    def open(self, ctx: Context) -> None:
        super().open(ctx)
        self.path = ctx.workdir / "huey-bench.sqlite3"
        huey.storage.filename = str(self.path)

    def reset(self) -> None:
        huey.storage.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        huey.storage.initialize_schema()

    def close(self) -> None:
        huey.storage.close()

    def enqueue_incr(self) -> None:
        incr()

    def enqueue_stamp(self) -> None:
        stamp()

    def worker_commands(self, processes: int) -> list[list[str]]:
        consumer = [str(self.ctx.bin_dir / "huey_consumer"), "systems.huey_sqlite.huey"]
        if processes == 1:
            return [consumer]
        return [[*consumer, "--worker-type", "process", "--workers", str(processes)]]

    def worker_env(self) -> dict[str, str]:
        return {"BENCH_HUEY_SQLITE": str(self.path)}


SYSTEMS = [
    HueySqlite(
        name="huey-sqlite",
        family="huey_sqlite",
        store="sqlite",
        label="Huey SqliteHuey (defaults)",
        config="SqliteHuey defaults: WAL, synchronous=FULL (SQLite's default; fsync unset),"
        " consumer defaults: one worker thread polling the table (0.1 s, backing off x1.15 up"
        " to 10 s while empty); two processes: --worker-type process --workers 2",
        tuned=False,
        guarantees=Guarantees(
            delivery="at-most-once",
            ack="on dequeue: the consumer deletes the task's row (in one transaction with"
            " reading it) before the task runs",
            crash="a task running (or dequeued) when its consumer dies is lost",
            timeout="none by default; a task's timeout= is enforced (SIGALRM) by process"
            " workers only, thread workers ignore it",
            retries="none by default (retries= on request)",
            hoarding="none: each worker dequeues one task at a time",
            record="a task's return value if it is not None (store_none=False); nothing for"
            " these jobs",
        ),
        process_model="one `huey_consumer` with one worker thread; for two,"
        " `--worker-type process --workers 2`",
    )
]
