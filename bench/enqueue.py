"""Enqueue at the round-trip limit: conveyor against a bare loop and a peer, per store.

    .venv-bench/bin/python bench/enqueue.py [--cases pg-bulk,pg-one,redis-one,sqlite-one]
        [--reps 5] [--jobs 10000] [--batch 1000]

Cases (each a set of systems measured in the same process, interleaved: every
repetition runs each system once, in turn, so drift hits all alike):

- ``pg-bulk``: ``conveyor.enqueue_many`` of ``--jobs`` jobs in batches of
  ``--batch`` (one atomic step per batch), against PgQueuer 1.6's bulk
  ``enqueue`` (lists of entrypoints, payloads and priorities) over the same
  psycopg driver.
- ``pg-one``: ``conveyor.enqueue`` one call per job, against a bare loop doing
  one autocommit ``INSERT`` per job through psycopg (a comparable row), and
  PgQueuer's one-job ``enqueue``.
- ``redis-one``: ``conveyor.enqueue`` one call per job, against a bare loop doing
  one ``RPUSH`` of a comparable payload per job.
- ``sqlite-one``: ``conveyor.enqueue`` one call per job against Huey's
  ``SqliteHuey`` calling a task (both in WAL mode), each by default and at the
  same durability: conveyor's default is ``synchronous=normal``; Huey's
  default (``fsync=None``) leaves SQLite's own, ``FULL``; ``fsync=True`` is
  ``FULL`` and ``fsync=False`` is ``OFF``. So the pairs are conveyor
  ``?synchronous=full`` / Huey ``fsync=True`` and conveyor ``?synchronous=off``
  / Huey ``fsync=False``, and the defaults (not the same durability) apart.

Each figure is jobs per second of wall time, median [min-max] over ``--reps``;
each ratio is conveyor's over the other system's, median [min-max] of the
per-repetition ratios. The machine's load average is printed before and after.

Stores: PostgreSQL at ``BENCH_PG_URL`` (default the local server, database
``cv_enqueue``), schemas ``bench_enqueue_*`` of it, dropped at the end; Redis
at ``BENCH_REDIS_URL`` (default database 12), keys under ``bench-enqueue``,
deleted at the end; SQLite files in a temporary directory. Needs
``.venv-bench`` (bench/setup.sh) with ``pgqueuer==1.6.0`` and
``psycopg[binary]`` added for the PostgreSQL cases.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jobs

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/cv_enqueue")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
NAMESPACE = "bench-enqueue"
FUNC = jobs.incr  # the harness's no-op job (bench/run.py's); never run here


class System:
    """One thing measured: ``setup`` before each repetition, then ``run(n)`` timed."""

    name = ""

    def setup(self) -> None:
        """Make the store empty (untimed)."""

    def run(self, count: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Remove what the system wrote."""


def use_conveyor(url: str) -> Any:
    import conveyor

    conveyor.configure(settings={"conveyor.backend": url, "conveyor.site_id": "bench"})
    return conveyor


class ConveyorOne(System):
    """``conveyor.enqueue`` one call (one acknowledged store call) per job."""

    def __init__(self, name: str, url: str, reset: Callable[[], None]) -> None:
        self.name, self.url, self.reset = name, url, reset

    def setup(self) -> None:
        self.conveyor = use_conveyor(self.url)
        self.conveyor.enqueue(FUNC, [0])  # opens the store outside the timing
        self.reset()

    def run(self, count: int) -> None:
        enqueue = self.conveyor.enqueue
        for i in range(count):
            enqueue(FUNC, [i])


class ConveyorBulk(ConveyorOne):
    """``conveyor.enqueue_many`` in batches."""

    batch = 1000

    def run(self, count: int) -> None:
        for start in range(0, count, self.batch):
            calls = [{"fn": FUNC, "args": [i]} for i in range(start, start + self.batch)]
            self.conveyor.enqueue_many(calls)


# -- PostgreSQL ------------------------------------------------------------------------
def pg_admin() -> Any:
    import psycopg

    return psycopg.connect(PG_URL, autocommit=True)


def pg_schema(name: str) -> str:
    with pg_admin() as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.execute(f"CREATE SCHEMA {name}")
    return name


def pg_truncate(schema: str, *tables: str) -> Callable[[], None]:
    def reset() -> None:
        with pg_admin() as conn:
            for table in tables:
                conn.execute(f"TRUNCATE {schema}.{table}")

    return reset


def conveyor_pg_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}schema={schema}"


class BarePgInsert(System):
    """One autocommit INSERT per job of a row like conveyor's, through psycopg."""

    name = "bare INSERT loop"

    def __init__(self) -> None:
        import psycopg

        self.schema = pg_schema("bench_enqueue_bare")
        options = f"-c search_path={self.schema}"
        self.conn = psycopg.connect(PG_URL, autocommit=True, options=options)
        self.conn.execute(
            "CREATE TABLE jobs (id text PRIMARY KEY, queue text NOT NULL, state text NOT NULL,"
            " func text NOT NULL, payload bytea NOT NULL, timeout integer NOT NULL,"
            " created_at double precision NOT NULL)"
        )

    def setup(self) -> None:
        self.conn.execute("TRUNCATE jobs")

    def run(self, count: int) -> None:
        sql = (
            "INSERT INTO jobs (id, queue, state, func, payload, timeout, created_at)"
            " VALUES (%s, %s, 'queued', %s, %s, %s, %s)"
        )
        execute = self.conn.execute
        for i in range(count):
            payload = f'{{"args":[{i}],"kwargs":{{}}}}'.encode()
            row = (str(uuid.uuid4()), "bench:default", "jobs:incr", payload, 180, time.time())
            execute(sql, row)

    def close(self) -> None:
        self.conn.close()


class PgQueuer(System):
    """PgQueuer 1.6 (its own schema, installed by its ``install()``), synchronous driver."""

    def __init__(self, bulk: int | None) -> None:
        import psycopg
        from pgqueuer.adapters.drivers.psycopg import PsycopgDriver, SyncPsycopgDriver
        from pgqueuer.queries import Queries, SyncQueries

        self.bulk = bulk
        self.name = "PgQueuer bulk enqueue" if bulk else "PgQueuer enqueue"
        self.schema = pg_schema("bench_enqueue_pgq" + ("_bulk" if bulk else ""))
        options = f"-c search_path={self.schema}"

        async def install() -> None:
            conn = await psycopg.AsyncConnection.connect(PG_URL, autocommit=True, options=options)
            async with conn:
                await Queries(PsycopgDriver(conn)).install(create_schema=False)

        asyncio.run(install())
        self.conn = psycopg.connect(PG_URL, autocommit=True, options=options)
        self.queries = SyncQueries(SyncPsycopgDriver(self.conn))

    def setup(self) -> None:
        self.conn.execute("TRUNCATE pgqueuer")

    def run(self, count: int) -> None:
        def payload(i: int) -> bytes:
            return f'{{"args":[{i}],"kwargs":{{}}}}'.encode()

        if self.bulk:
            for start in range(0, count, self.bulk):
                numbers = range(start, start + self.bulk)
                self.queries.enqueue(
                    ["noop"] * self.bulk, [payload(i) for i in numbers], [0] * self.bulk
                )
        else:
            for i in range(count):
                self.queries.enqueue("noop", payload(i))

    def close(self) -> None:
        self.conn.close()


def pg_cleanup() -> None:
    with pg_admin() as conn:
        for row in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench_enqueue%'"
        ).fetchall():
            conn.execute(f"DROP SCHEMA {row[0]} CASCADE")


# -- Redis -------------------------------------------------------------------------------
def redis_client() -> Any:
    import redis

    return redis.Redis.from_url(REDIS_URL)


def redis_reset() -> None:
    client = redis_client()
    keys = list(client.scan_iter(match=f"{NAMESPACE}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


class BareRpush(System):
    """One RPUSH per job of a payload like conveyor's (id, function, arguments, times)."""

    name = "bare RPUSH loop"

    def setup(self) -> None:
        self.client = redis_client()
        redis_reset()

    def run(self, count: int) -> None:
        rpush = self.client.rpush
        for i in range(count):
            payload = (
                f'{{"id":"{uuid.uuid4()}","func":"jobs:incr","args":[{i}],"kwargs":{{}},'
                f'"timeout":180,"created_at":{time.time()}}}'
            )
            rpush(f"{NAMESPACE}-bare:queue", payload)

    def close(self) -> None:
        self.client.close()


# -- SQLite ------------------------------------------------------------------------------
class HueySqlite(System):
    """Huey's SqliteHuey: calling a task enqueues it (one commit per task)."""

    def __init__(self, scratch: Path, fsync: bool | None) -> None:
        self.scratch, self.fsync = scratch, fsync
        self.name = f"SqliteHuey fsync={fsync}"

    def setup(self) -> None:
        from huey import SqliteHuey

        self.huey = SqliteHuey(
            "bench", filename=str(self.scratch / f"huey-{uuid.uuid4().hex}.db"), fsync=self.fsync
        )

        def noop(i: int) -> None:
            del i

        self.task = self.huey.task(name="noop")(noop)
        self.task(-1)  # creates the tables outside the timing

    def run(self, count: int) -> None:
        task = self.task
        for i in range(count):
            task(i)


class ConveyorSqlite(ConveyorOne):
    def __init__(self, scratch: Path, synchronous: str) -> None:
        self.scratch = scratch
        self.synchronous = synchronous
        super().__init__(f"conveyor SQLite synchronous={synchronous}", "", lambda: None)

    def setup(self) -> None:
        path = self.scratch / f"conveyor-{uuid.uuid4().hex}.db"
        self.url = f"sqlite:///{path}?synchronous={self.synchronous}"
        super().setup()


# -- the harness --------------------------------------------------------------------------
def cases(names: list[str], scratch: Path, batch: int) -> dict[str, list[System]]:
    found: dict[str, list[System]] = {}
    if "pg-bulk" in names:
        schema = pg_schema("bench_enqueue_conveyor_bulk")
        bulk = ConveyorBulk(
            "conveyor enqueue_many",
            conveyor_pg_url(schema),
            pg_truncate(schema, "conveyor_jobs"),
        )
        bulk.batch = batch
        found["pg-bulk"] = [bulk, PgQueuer(bulk=batch)]
    if "pg-one" in names:
        schema = pg_schema("bench_enqueue_conveyor_one")
        one = ConveyorOne(
            "conveyor enqueue", conveyor_pg_url(schema), pg_truncate(schema, "conveyor_jobs")
        )
        found["pg-one"] = [one, BarePgInsert(), PgQueuer(bulk=None)]
    if "redis-one" in names:
        url = f"{REDIS_URL}?namespace={NAMESPACE}"
        found["redis-one"] = [ConveyorOne("conveyor enqueue", url, redis_reset), BareRpush()]
    if "sqlite-one" in names:
        found["sqlite-one"] = [
            ConveyorSqlite(scratch, "normal"),
            HueySqlite(scratch, fsync=None),
            ConveyorSqlite(scratch, "full"),
            HueySqlite(scratch, fsync=True),
            ConveyorSqlite(scratch, "off"),
            HueySqlite(scratch, fsync=False),
        ]
    return found


def spread(values: list[float], digits: int = 0) -> str:
    return (
        f"{statistics.median(values):,.{digits}f}"
        f" [{min(values):,.{digits}f}-{max(values):,.{digits}f}]"
    )


def measure(
    systems: list[System], count: int, reps: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Jobs per second of wall time, and the client's CPU microseconds per job, by system."""
    rates: dict[str, list[float]] = {system.name: [] for system in systems}
    cpu: dict[str, list[float]] = {system.name: [] for system in systems}
    for _ in range(reps):
        for system in systems:
            system.setup()
            began, used = time.perf_counter(), time.process_time()
            system.run(count)
            rates[system.name].append(count / (time.perf_counter() - began))
            cpu[system.name].append((time.process_time() - used) / count * 1e6)
    return rates, cpu


def report(
    case: str,
    measured: tuple[dict[str, list[float]], dict[str, list[float]]],
    count: int,
    reps: int,
) -> None:
    rates, cpu = measured
    print(
        f"\n{case}: {count:,} jobs, {reps} interleaved repetitions, median [min-max] of"
        " jobs/s and of the client's CPU us per job"
    )
    for name, values in rates.items():
        print(f"  {name:<36} {spread(values):<28} cpu {spread(cpu[name], 1)}")
    pairs = [
        (mine, theirs)
        for mine in rates
        if mine.startswith("conveyor")
        for theirs in rates
        if not theirs.startswith("conveyor")
    ]
    if case == "sqlite-one":  # each default, then the same durability
        pairs = [
            ("conveyor SQLite synchronous=normal", "SqliteHuey fsync=None"),
            ("conveyor SQLite synchronous=full", "SqliteHuey fsync=True"),
            ("conveyor SQLite synchronous=off", "SqliteHuey fsync=False"),
        ]
    for mine, theirs in pairs:
        ratios = [a / b for a, b in zip(rates[mine], rates[theirs], strict=True)]
        print(f"  ratio {mine} / {theirs}: x{spread(ratios, 3)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="pg-bulk,pg-one,redis-one,sqlite-one")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--jobs", type=int, help="per repetition (default: per case)")
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    names = args.cases.split(",")
    defaults = {"pg-bulk": 10000, "pg-one": 1000, "redis-one": 5000, "sqlite-one": 1000}
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as scratch:
        found = cases(names, Path(scratch), args.batch)
        try:
            for case in names:
                count = args.jobs or defaults[case]
                report(case, measure(found[case], count, args.reps), count, args.reps)
        finally:
            for systems in found.values():
                for system in systems:
                    system.close()
            if any(name.startswith("pg") for name in names):
                pg_cleanup()
            if "redis-one" in names:
                redis_reset()
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
