"""The systems the benchmark measures: conveyor, its peers, and a bare baseline.

Each module here describes one library and the configurations it is measured
in, as :class:`System` objects listed in its ``SYSTEMS``. A system knows how
to enqueue the benchmark's jobs (:mod:`jobs`) from the harness process and
which commands start its workers; the harness (``bench/run.py``) does the
timing, starts and stops the worker processes and cleans up between phases.

Modules are imported only when their systems are asked for, and importing one
must be cheap and free of side effects beyond defining the library's app
object (a worker process imports the same module to find its tasks).
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/cv_bench"
)
#: Marks a PostgreSQL schema as the benchmark's: only such schemas are ever dropped.
SCHEMA_MARK = "conveyor-bench: dropped and made again by bench/run.py"

#: The modules that define systems, in the order they are measured and shown.
MODULES = (
    "conveyor_sqlite",
    "conveyor_redis",
    "conveyor_postgresql",
    "rq_peer",
    "celery_peer",
    "dramatiq_peer",
    "huey_peer",
    "bare_redis",
    "pgqueuer_peer",
    "procrastinate_peer",
    "huey_sqlite",
)


@dataclass
class Context:
    """What a system needs to know about the run."""

    redis_url: str
    workdir: Path  # a scratch directory for this run, removed afterwards
    postgres_url: str = POSTGRES_URL

    @property
    def bin_dir(self) -> Path:
        """Where the environment's console scripts (rq, celery, ...) are."""
        return Path(sys.executable).parent


@dataclass
class Guarantees:
    """What a system promises about a job, in the configuration measured."""

    delivery: str  # at-least-once, at-most-once, ...
    ack: str  # when the job leaves the queue for good
    crash: str  # what happens to a running job when its worker process dies
    timeout: str  # how a job that runs too long is stopped, if at all
    retries: str  # what happens to a job that raised
    hoarding: str = ""  # jobs held by a worker ahead of time (prefetch)
    record: str = ""  # what is kept of a job once it ran (result, state), if anything

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


@dataclass
class System:
    """One library in one configuration."""

    name: str  # unique, e.g. "rq-simple"
    family: str  # the module's short name, e.g. "rq"
    label: str  # shown in tables and the chart
    config: str  # the configuration measured, in words
    tuned: bool  # False: the library's defaults; True: its fastest sensible set-up
    guarantees: Guarantees
    #: The library's own API for enqueueing many jobs at once, or None.
    bulk_api: str | None = None
    #: Fraction of the drain size to use (very slow systems drain fewer jobs).
    drain_scale: float = 1.0
    #: Per process: how the "one" and "two worker processes" are made up.
    process_model: str = ""
    #: Where the jobs are kept: "redis", "postgresql" or "sqlite" (results are grouped by it).
    store: str = "redis"
    notes: list[str] = field(default_factory=list)

    # -- set-up ----------------------------------------------------------------
    def unavailable(self) -> str | None:
        """Why this system cannot be measured here, or None."""
        return None

    def version(self) -> str:
        """The measured library's version."""
        return _version(self.family)

    def open(self, ctx: Context) -> None:
        """Prepare the producer side (connections, configuration)."""
        self.ctx = ctx

    def reset(self) -> None:
        """Forget every job (the harness has just flushed the Redis database)."""

    def warm(self) -> None:
        """Have the producer connected, as after open(): the harness calls it after
        reset(), before any timing (a system whose reset() closes its client
        reconnects here, so that no timed call pays for connecting)."""

    def close(self) -> None:
        """Release the producer side."""

    # -- the producer --------------------------------------------------------------
    def enqueue_incr(self) -> None:
        """Enqueue one ``jobs.incr`` with the library's ordinary one-job call."""
        raise NotImplementedError

    def enqueue_incr_many(self, count: int) -> None:
        """Enqueue ``count`` ``jobs.incr`` with the library's bulk API."""
        raise NotImplementedError

    def enqueue_stamp(self) -> None:
        """Enqueue one ``jobs.stamp`` with the ordinary one-job call."""
        raise NotImplementedError

    # -- the workers ---------------------------------------------------------------
    def worker_commands(self, processes: int) -> list[list[str]]:
        """Commands that together run jobs in ``processes`` worker processes."""
        raise NotImplementedError

    def worker_env(self) -> dict[str, str]:
        """Environment variables for the worker commands (beyond the harness's own)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """This system as it appears in the results."""
        return {
            "name": self.name,
            "family": self.family,
            "store": self.store,
            "label": self.label,
            "version": self.version(),
            "tuned": self.tuned,
            "config": self.config,
            "process_model": self.process_model,
            "bulk_api": self.bulk_api,
            "guarantees": self.guarantees.as_dict(),
            "notes": self.notes,
        }


def _version(family: str) -> str:
    distribution = {
        "conveyor_sqlite": "conveyor",
        "conveyor_redis": "conveyor",
        "conveyor_postgresql": "conveyor",
        "bare_redis": "redis",
        "huey_sqlite": "huey",
    }.get(family, family)
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def python_command(*args: str) -> list[str]:
    """A command line running this environment's Python."""
    return [sys.executable, *args]


# -- PostgreSQL ------------------------------------------------------------------------
def postgres_unavailable(url: str) -> str | None:
    """Why the PostgreSQL database at ``url`` cannot be used, or None."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (bench/setup.sh installs it)"
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except Exception as exc:
        return f"cannot connect to PostgreSQL at {url}: {exc}".strip()
    return None


def fresh_schema(url: str, schema: str) -> None:
    """Drop the benchmark's ``schema`` (only if the benchmark made it) and make it again."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
            (schema,),
        ).fetchone()
        if row is not None:
            if row[0] != SCHEMA_MARK:
                raise RuntimeError(
                    f"the schema {schema} in {url} was not made by the benchmark; it drops its"
                    " schemas between runs, so it refuses this one (use another --postgres-url)"
                )
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f"COMMENT ON SCHEMA \"{schema}\" IS '{SCHEMA_MARK}'")


def drop_schema(url: str, schema: str) -> None:
    """Drop the benchmark's ``schema`` if the benchmark made it."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
            (schema,),
        ).fetchone()
        if row is not None and row[0] == SCHEMA_MARK:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def empty_schema(url: str, schema: str, keep: tuple[str, ...] = ()) -> None:
    """Empty every table of the benchmark's ``schema`` but those in ``keep``."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
        ).fetchall()
        names = [f'"{schema}"."{name}"' for (name,) in rows if name not in keep]
        if names:
            conn.execute(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE")


def with_search_path(url: str, schema: str) -> str:
    """``url`` with the libpq option that makes ``schema`` the connection's search path."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"
