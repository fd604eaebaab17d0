"""conveyor against its Python peers, side by side, on Redis, PostgreSQL and SQLite.

    .venv-bench/bin/python bench/run.py [--runs 3] [--load idle|busy|both] [--systems a,b,...]

(``make bench`` creates ``.venv-bench`` with ``bench/setup.sh`` and runs this
with ``--load both``.)

For every system (conveyor on SQLite, Redis and PostgreSQL; RQ, Celery,
Dramatiq, Huey and a bare redis-py loop on Redis; PgQueuer and procrastinate on
PostgreSQL; Huey's SqliteHuey on SQLite) it measures, with no-op jobs that each
do one Redis INCR:

- enqueue: jobs/s, one ordinary call per job;
- bulk enqueue: jobs/s with the library's own API for many jobs (n/a if none);
- drain: jobs/s for N pre-queued jobs, with one worker process and with two,
  timed inside the jobs from the first job's start to the last job's end;
- latency: from just before the enqueue call to the job's start, on an idle
  worker, median and 99th percentile.

The run is made of passes: in each pass every system is measured once, in a
shuffled order, so a slow spell of a shared machine falls on all systems
alike. With ``--load both`` every pass is run on the idle machine and again
with low-priority busy loops on every core. Every figure is reported as the
median [min-max] over the passes, and conveyor's ratio to each peer is taken
pass by pass, then reported the same way. The load average and the CPU busy
share are recorded for every pass. It writes ``bench/results/<timestamp>.json``,
``latest.json``, ``latest.png`` and ``latest-busy.png``.

Every system uses the same Redis database (default 15 on 127.0.0.1:6379),
emptied with FLUSHDB (that database only) before every phase; the harness
refuses a database that holds keys it did not write. Each PostgreSQL system
keeps its tables in a schema of its own (``bench_<system>``) in the database of
``--postgres-url``, made afresh and emptied between phases; nothing else in
that database is touched.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import importlib
import importlib.metadata
import json
import math
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/cv_bench"
OWNER_KEY = "bench:owner"
OWNER = "conveyor-bench"
CONVEYOR_LAYOUT_KEY = "conveyor:version"

# name, title, unit, higher is better
METRICS: list[tuple[str, str, str, bool]] = [
    ("enqueue", "enqueue, one call per job", "jobs/s", True),
    ("enqueue_bulk", "bulk enqueue", "jobs/s", True),
    ("drain_1", "drain, 1 worker process", "jobs/s", True),
    ("drain_2", "drain, 2 worker processes", "jobs/s", True),
    ("latency_p50", "idle latency p50", "ms", False),
    ("latency_p99", "idle latency p99", "ms", False),
]
METRIC_HIGHER = {metric: higher for metric, _, _, higher in METRICS}
PEER_LIBRARIES = (
    "rq",
    "celery",
    "dramatiq",
    "huey",
    "kombu",
    "pgqueuer",
    "procrastinate",
    "redis",
    "hiredis",
    "psycopg",
    "asyncpg",
)


@dataclass
class Settings:
    runs: int
    enqueue_jobs: int
    drain_jobs: int
    batch: int
    latency_samples: int  # per run
    latency_gap: tuple[float, float]  # seconds idle before each sample: uniform in [low, high]
    startup_timeout: float
    quick: bool
    conditions: list[str]  # "idle", "busy": each pass runs every condition in turn
    seed: int  # of the shuffled order of the systems in each pass


def _timed(work: Callable[[], object]) -> float:
    """Seconds ``work`` takes in this process, the garbage collector paused (as ``timeit``
    does): a full collection first, so that no system's timing holds a pause caused by the
    objects another system left (a 1,000-job bulk call lasts only 20-30 ms)."""
    gc.collect()
    gc.disable()
    try:
        began = time.perf_counter()
        work()
        return time.perf_counter() - began
    finally:
        gc.enable()


class BenchError(Exception):
    """A phase could not be measured (the message says why)."""


# -- worker processes --------------------------------------------------------------
class Fleet:
    """The worker processes of one phase: started together, stopped by pid."""

    def __init__(self, commands: list[list[str]], env: dict[str, str], cwd: Path, logs: Path):
        self.commands = commands
        self.env = env
        self.cwd = cwd
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log_paths: list[Path] = []

    def start(self) -> None:
        for index, command in enumerate(self.commands):
            path = self.logs.with_name(f"{self.logs.name}-{index}.log")
            self.log_paths.append(path)
            with path.open("wb") as log:
                # Its own session, so the whole process group can be stopped.
                self.procs.append(
                    subprocess.Popen(
                        command,
                        env=self.env,
                        cwd=self.cwd,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )

    def check(self) -> None:
        """Raise if a worker process has exited."""
        for proc, path in zip(self.procs, self.log_paths, strict=True):
            status = _exit_status(proc)
            if status is not None:
                raise BenchError(f"worker {' '.join(proc.args)} exited ({status}):\n{_tail(path)}")

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM each worker, wait, then SIGKILL what is left of its process group.

        A worker is reaped only after its group was killed, so its pid (the
        group's id) cannot have been reused by then.
        """
        for proc in self.procs:
            if _exit_status(proc) is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_exit_status(p) is None for p in self.procs):
            time.sleep(0.02)
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _exit_status(proc: subprocess.Popen[bytes]) -> str | None:
    """How ``proc`` exited, or None while it runs; an exited one is left unreaped."""
    if proc.returncode is not None:
        return f"status {proc.returncode}"
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return "reaped"
    if info is None:
        return None
    how = "status" if info.si_code == os.CLD_EXITED else "signal"
    return f"{how} {info.si_status}"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


@contextlib.contextmanager
def running(fleet: Fleet) -> Iterator[Fleet]:
    try:
        fleet.start()
        yield fleet
    finally:
        fleet.stop()


# -- the Redis database ------------------------------------------------------------
class Store:
    """The benchmark's Redis database: checked to be ours, emptied between phases."""

    def __init__(self, url: str) -> None:
        import redis

        parts = urlsplit(url)
        if parts.scheme not in {"redis", "rediss", "unix"}:
            raise SystemExit(f"bench: --redis-url must be a redis:// URL, not {url!r}")
        self.url = url
        self.conn = redis.Redis.from_url(url)
        try:
            self.conn.ping()
        except redis.RedisError as exc:
            raise SystemExit(f"bench: cannot reach Redis at {url}: {exc}") from None
        keys = self.conn.dbsize()
        # conveyor marks a namespace with its layout version as it opens it; a conveyor
        # process of an earlier run that opened the store after its last flush leaves that.
        if keys == 1 and self.conn.exists(CONVEYOR_LAYOUT_KEY):
            keys = 0
        if keys and self.conn.get(OWNER_KEY) != OWNER.encode():
            raise SystemExit(
                f"bench: the Redis database at {url} holds {keys} keys the benchmark did not"
                " write; it empties its database between phases, so it refuses this one."
                " Use --redis-url with an unused database number."
            )

    def flush(self) -> None:
        self.conn.flushdb()  # this database only
        self.conn.set(OWNER_KEY, OWNER)

    def server_version(self) -> str:
        info: dict[str, Any] = self.conn.info("server")
        return str(info.get("redis_version", "?"))


# -- one phase each --------------------------------------------------------------
class Bench:
    def __init__(self, settings: Settings, store: Store, workdir: Path) -> None:
        self.s = settings
        self.store = store
        self.workdir = workdir
        (workdir / "logs").mkdir()
        (workdir / "cwd").mkdir()

    def reset(self, system: Any) -> None:
        self.store.flush()
        system.reset()
        system.warm()

    def env(self, system: Any, target: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "CKAN_"))}
        python_path = [str(BENCH_DIR)]
        if env.get("PYTHONPATH"):
            python_path.append(env["PYTHONPATH"])
        env.update(
            PYTHONPATH=os.pathsep.join(python_path),
            BENCH_REDIS_URL=self.store.url,
            BENCH_TARGET=str(target),
            PYTHONDONTWRITEBYTECODE="1",
        )
        env.update(system.worker_env())
        return env

    def fleet(self, system: Any, processes: int, target: int, phase: str) -> Fleet:
        return Fleet(
            system.worker_commands(processes),
            self.env(system, target),
            self.workdir / "cwd",
            self.workdir / "logs" / f"{system.name}-{phase}",
        )

    def enqueue(self, system: Any) -> float:
        self.reset(system)
        count = self.s.enqueue_jobs

        def one_call_each() -> None:
            for _ in range(count):
                system.enqueue_incr()

        return count / _timed(one_call_each)

    def enqueue_bulk(self, system: Any) -> float | None:
        if system.bulk_api is None:
            return None
        self.reset(system)
        count = self.s.enqueue_jobs
        return count / _timed(lambda: self._enqueue_batches(system, count))

    def _enqueue_batches(self, system: Any, count: int) -> None:
        for start in range(0, count, self.s.batch):
            system.enqueue_incr_many(min(self.s.batch, count - start))

    def drain_jobs(self, system: Any) -> int:
        return max(50, round(self.s.drain_jobs * system.drain_scale))

    def drain(self, system: Any, processes: int, then_latency: bool = False) -> dict[str, Any]:
        """Drain N pre-queued jobs; with ``then_latency``, sample latency on the idle worker."""
        import jobs

        self.reset(system)
        count = self.drain_jobs(system)
        if system.bulk_api is None:
            for _ in range(count):
                system.enqueue_incr()
        else:
            self._enqueue_batches(system, count)
        conn = self.store.conn
        with running(self.fleet(system, processes, count, f"drain{processes}")) as fleet:
            spawned = time.time()
            progress = (b"", time.monotonic())  # the count last seen, and since when
            while True:
                done, last = conn.mget([jobs.COUNTER, jobs.LAST_AT])
                if last is not None:
                    break
                fleet.check()
                if done != progress[0]:
                    progress = (done, time.monotonic())
                elif time.monotonic() - progress[1] > self.s.startup_timeout:
                    raise BenchError(
                        f"drain: stuck at {int(done or 0)} of {count} jobs done for"
                        f" {self.s.startup_timeout:.0f} s"
                    )
                time.sleep(0.005)
            first = float(conn.get(jobs.FIRST_AT) or "nan")
            last_at = float(last)
            result: dict[str, Any] = {
                "rate": (count - 1) / (last_at - first),
                "jobs": count,
                "startup_s": first - spawned,
                "wall_s": last_at - spawned,
            }
            if then_latency:
                try:
                    result["latency"] = self.latency(system, fleet)
                except BenchError as exc:
                    result["latency_error"] = str(exc)
        result["runs_beyond_n"] = int(conn.get(jobs.COUNTER) or 0) - count
        return result

    def latency(self, system: Any, fleet: Fleet) -> dict[str, Any]:
        """Latency samples on ``fleet``'s one worker, which has just drained its queue."""
        import jobs

        conn = self.store.conn
        for _ in range(3):  # warm-up: the latency job's code is loaded
            self._wait_started(system, fleet, 30)
        samples = []
        for _ in range(self.s.latency_samples):
            # Leave the worker idle for a while (20-80 ms by default) before each enqueue.
            low, high = self.s.latency_gap
            time.sleep(random.uniform(low, high))
            before = time.time()
            system.enqueue_stamp()
            popped = conn.blpop([jobs.STARTED], timeout=30)
            if popped is None:
                fleet.check()
                raise BenchError("latency: a job did not start within 30 s")
            samples.append(round((float(popped[1]) - before) * 1000, 4))
        return {"samples_ms": samples}

    def _wait_started(self, system: Any, fleet: Fleet, timeout: float) -> None:
        import jobs

        system.enqueue_stamp()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.store.conn.blpop([jobs.STARTED], timeout=0.5) is not None:
                return
            fleet.check()
        raise BenchError(f"latency: the worker ran no job within {timeout:.0f} s")

    def measure(self, system: Any, log: Callable[[str], None]) -> dict[str, Any]:
        """One run of every phase for ``system``; a failed phase is noted, not fatal."""
        began = time.monotonic()
        run: dict[str, Any] = {"errors": {}}
        phases: list[tuple[str, Callable[[], Any]]] = [
            ("enqueue", lambda: self.enqueue(system)),
            ("enqueue_bulk", lambda: self.enqueue_bulk(system)),
            ("drain_1", lambda: self.drain(system, 1, then_latency=True)),
            ("drain_2", lambda: self.drain(system, 2)),
        ]
        for name, phase in phases:
            try:
                run[name] = phase()
            except BenchError as exc:
                run[name] = None
                run["errors"][name] = str(exc)
                log(f"    {name} failed: {exc}")
            except Exception as exc:  # a system's own failure: note it, measure the rest
                run[name] = None
                where = traceback.extract_tb(exc.__traceback__)[-1]
                message = f"{exc!r} at {where.filename}:{where.lineno}"
                run["errors"][name] = message
                log(f"    {name} failed: {message}")
            finally:
                self.reset(system)
        # The latency samples were taken on the drain_1 worker, once it was idle.
        drained = run.get("drain_1") or {}
        run["latency"] = drained.pop("latency", None)
        if "latency_error" in drained:
            run["errors"]["latency"] = drained.pop("latency_error")
            log(f"    latency failed: {run['errors']['latency']}")
        run["seconds"] = round(time.monotonic() - began, 1)
        return run


# -- the machine's load ---------------------------------------------------------------
def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat, or None where there is none."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    values = [int(v) for v in fields[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user and nice
    return total - idle, total


class LoadProbe:
    """The machine's load over one pass: load average before and after, CPU busy % between."""

    def __init__(self) -> None:
        self.before = list(os.getloadavg())
        self.cpu = _cpu_times()
        self.began = time.time()

    def finish(self) -> dict[str, Any]:
        after = _cpu_times()
        busy = None
        if self.cpu and after and after[1] > self.cpu[1]:
            busy = round(100 * (after[0] - self.cpu[0]) / (after[1] - self.cpu[1]), 1)
        return {
            "load_before": [round(x, 2) for x in self.before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "cpu_busy_pct": busy,
            "seconds": round(time.time() - self.began, 1),
        }


class BusyLoad:
    """Low-priority busy loops, one per CPU (``nice -n 19``), started and stopped by pid."""

    CODE = "import os\nos.nice(19)\nwhile True:\n    pass\n"

    def __init__(self, count: int) -> None:
        self.count = count
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> BusyLoad:
        for _ in range(self.count):
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", self.CODE],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        self.procs.clear()


# -- figures -----------------------------------------------------------------------
def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _latency(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {"latency_p50": None, "latency_p99": None}
    return {"latency_p50": _percentile(samples, 50), "latency_p99": _percentile(samples, 99)}


def figures(run: dict[str, Any] | None) -> dict[str, float | None]:
    """The six figures of one run (one pass of one system); all None for a missing run."""
    run = run or {}
    return {
        "enqueue": run.get("enqueue"),
        "enqueue_bulk": run.get("enqueue_bulk"),
        "drain_1": (run.get("drain_1") or {}).get("rate"),
        "drain_2": (run.get("drain_2") or {}).get("rate"),
        **_latency((run.get("latency") or {}).get("samples_ms", [])),
    }


def spread(values: list[float | None]) -> dict[str, Any]:
    """Median, min and max of the values that exist, and how many there were."""
    present = [v for v in values if v is not None]
    if not present:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": statistics.median(present),
        "min": min(present),
        "max": max(present),
        "n": len(present),
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every figure as median [min-max] over the passes (latency percentiles: per pass).

    ``pooled`` adds the latency percentiles over all passes' samples together.
    """
    per_pass = [figures(run) for run in runs]
    out = {metric: spread([f[metric] for f in per_pass]) for metric, *_ in METRICS}
    pooled = [x for run in runs for x in (run.get("latency") or {}).get("samples_ms", [])]
    out["pooled"] = _latency(pooled)
    return out


# -- systems -------------------------------------------------------------------------
def load_systems(wanted: list[str] | None) -> list[Any]:
    from systems import MODULES

    chosen = []
    unknown = set(wanted or [])
    broken = []
    for module_name in MODULES:
        try:
            module = importlib.import_module(f"systems.{module_name}")
        except ImportError as exc:  # a peer library missing: its systems cannot be measured
            broken.append(f"systems.{module_name} cannot be imported ({exc})")
            say(f"skipping {broken[-1]}")
            continue
        for system in module.SYSTEMS:
            names = {system.name, system.family, module_name, f"store:{system.store}"}
            if wanted is None or names & set(wanted):
                chosen.append(system)
                unknown -= names
    if unknown:
        also = f"; {'; '.join(broken)}" if broken else ""
        raise SystemExit(f"bench: unknown system(s): {', '.join(sorted(unknown))}{also}")
    return chosen


def is_conveyor(system: dict[str, Any]) -> bool:
    return str(system["family"]).startswith("conveyor")


def is_peer(system: dict[str, Any]) -> bool:
    return not is_conveyor(system) and system["family"] != "bare_redis"


def _store(system: dict[str, Any]) -> str:
    return str(system.get("store", "redis"))


STORES = (("redis", "Redis"), ("postgresql", "PostgreSQL"), ("sqlite", "SQLite"))


# -- ratios and targets ------------------------------------------------------------
def ratio(ours: float | None, theirs: float | None, higher_is_better: bool) -> float | None:
    """How many times better conveyor is (above 1: better)."""
    if ours is None or theirs is None or ours <= 0 or theirs <= 0:
        return None
    return ours / theirs if higher_is_better else theirs / ours


def _per_pass(entry: dict[str, Any], metric: str) -> list[float | None]:
    return [figures(run)[metric] for run in entry.get("runs", [])]


def pass_ratios(ours: dict[str, Any], theirs: dict[str, Any], metric: str) -> list[float | None]:
    """conveyor's ratio to a peer, pass by pass (both were measured in every pass)."""
    higher = METRIC_HIGHER[metric]
    return [
        ratio(a, b, higher)
        for a, b in zip(_per_pass(ours, metric), _per_pass(theirs, metric), strict=False)
    ]


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """For each conveyor system and each other system: per metric, median [min-max] of the
    ratios taken pass by pass."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    measured = {n: r for n, r in results.items() if r.get("runs")}
    for name, ours in measured.items():
        if not is_conveyor(ours):
            continue
        out[name] = {}
        for peer_name, peer in measured.items():
            if is_conveyor(peer):
                continue
            row = {}
            for metric, *_ in METRICS:
                values = pass_ratios(ours, peer, metric)
                row[metric] = {**spread(values), "passes": values}
            out[name][peer_name] = row
    return out


class _Checks:
    """Issue 19's targets for one conveyor system, each a ratio taken pass by pass."""

    def __init__(self, results: dict[str, dict[str, Any]], ours: dict[str, Any]) -> None:
        self.results = results
        self.ours = ours
        self.items: list[dict[str, Any]] = []

    def at_least(self, metric: str, factor: float, goal: str, keep: Callable[[Any], bool]) -> None:
        """conveyor / the best of ``keep``'s systems in each pass >= ``factor``."""
        rivals = {
            n: r
            for n, r in self.results.items()
            if r.get("runs") and not is_conveyor(r) and keep(r)
        }
        if not rivals:
            self.items.append({"goal": goal, "met": None, "ratio": spread([]), "versus": None})
            return
        higher = METRIC_HIGHER[metric]
        ours = _per_pass(self.ours, metric)
        values: list[float | None] = []
        best_names = []
        for index, value in enumerate(ours):
            theirs = {
                n: _per_pass(r, metric)[index] if index < len(r["runs"]) else None
                for n, r in rivals.items()
            }
            known = {n: v for n, v in theirs.items() if v is not None}
            if not known:
                values.append(None)
                continue
            pick = max if higher else min
            best = pick(known, key=lambda n: known[n])
            best_names.append(best)
            values.append(ratio(value, known[best], higher))
        found = spread(values)
        met = None if found["median"] is None else found["median"] >= factor
        versus = ", ".join(sorted(set(best_names))) or None
        self.items.append(
            {"goal": goal, "factor": factor, "met": met, "ratio": found, "versus": versus}
        )


def targets(results: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Issue 19's targets, checked against this condition's figures (median of pass ratios)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, ours in results.items():
        if not is_conveyor(ours) or not ours.get("runs"):
            continue
        checks = _Checks(results, ours)
        store = _store(ours)

        def same(keep: Callable[[Any], bool], store: str = store) -> Callable[[Any], bool]:
            return lambda r: _store(r) == store and keep(r)

        if store == "redis":
            default = same(lambda r: is_peer(r) and not r["tuned"])
            checks.at_least("drain_1", 2, "drain x1 >= 2x the best peer's default", default)
            dramatiq = same(lambda r: r["name"] == "dramatiq-prefetch64")
            checks.at_least("drain_1", 1.5, "drain x1 >= 1.5x Dramatiq (prefetch 64)", dramatiq)
            checks.at_least("drain_2", 1, "drain x2 >= two bare loops", same(_is_bare))
            checks.at_least("enqueue", 0.9, "enqueue within 10% of the bare loop", same(_is_bare))
            huey = same(lambda r: r["name"] == "huey")
            checks.at_least("latency_p99", 1, "idle latency p99 no worse than Huey's", huey)
        elif store == "postgresql":
            pgq = same(lambda r: r["family"] == "pgqueuer")
            checks.at_least("enqueue_bulk", 1, "bulk enqueue >= PgQueuer's", pgq)
            checks.at_least("drain_1", 1.5, "drain x1 >= 1.5x PgQueuer's", pgq)
        elif store == "sqlite":
            huey = same(lambda r: r["family"] == "huey_sqlite")
            checks.at_least("enqueue", 1, "enqueue >= SqliteHuey's (see durability)", huey)
        out[name] = checks.items
    return out


def _is_bare(r: dict[str, Any]) -> bool:
    return bool(r["family"] == "bare_redis")


# -- output ----------------------------------------------------------------------------
def fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if metric.startswith("latency"):
        return f"{value:.2f} ms"
    return f"{value:,.0f}/s"


def _num(metric: str, value: float) -> str:
    return f"{value:.2f}" if metric.startswith("latency") else f"{value:,.0f}"


def fmt_spread(metric: str, found: dict[str, Any]) -> str:
    """``median [min-max]`` (no range for a single value)."""
    if found.get("median") is None:
        return "n/a"
    text = _num(metric, found["median"])
    if found.get("n", 1) > 1:
        text += f" [{_num(metric, found['min'])}-{_num(metric, found['max'])}]"
    return text


def fmt_ratio(found: dict[str, Any]) -> str:
    if found.get("median") is None:
        return "n/a"
    text = f"x{found['median']:.2f}"
    if found.get("n", 1) > 1:
        text += f" [{found['min']:.2f}-{found['max']:.2f}]"
    return text


HEADS = ["enqueue/s", "bulk/s", "drain x1/s", "drain x2/s", "idle p50 ms", "idle p99 ms"]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def print_condition(
    condition: str, results: dict[str, dict[str, Any]], out: Callable[[str], None]
) -> None:
    """One condition's tables in Markdown: figures and ratios per store, and the targets."""
    all_ratios = ratios(results)
    for store, title in STORES:
        print_store(condition, store, title, results, all_ratios, out)
    for name, r in results.items():
        if not r.get("summary"):
            out(f"{name}: not measured: {r.get('reason', 'no run completed')}")
    for ours, checks in targets(results).items():
        out("")
        out(f"Targets for {results[ours]['label']}, {condition} (issue 19; ratio per pass):")
        for c in checks:
            mark = {True: "met", False: "NOT MET", None: "-"}[c["met"]]
            versus = f" (best: {c['versus']})" if c.get("versus") else ""
            out(f"  [{mark:>7}] {c['goal']}: {fmt_ratio(c['ratio'])}{versus}")


def print_store(
    condition: str,
    store: str,
    title: str,
    results: dict[str, dict[str, Any]],
    all_ratios: dict[str, dict[str, dict[str, Any]]],
    out: Callable[[str], None],
) -> None:
    """The figures of one store's systems, and conveyor's ratios to the others on it."""
    rows = {n: r for n, r in results.items() if r.get("summary") and _store(r) == store}
    if not rows:
        return
    out("")
    out(f"{title}, {condition}: median [min-max] over the passes")
    out("")
    out(_row(["system", *HEADS]))
    out(_row(["---"] * (len(HEADS) + 1)))
    for r in rows.values():
        label = f"**{r['label']}**" if is_conveyor(r) else r["label"]
        out(_row([label, *[fmt_spread(metric, r["summary"][metric]) for metric, *_ in METRICS]]))
    for ours in (n for n in rows if n in all_ratios):
        out("")
        out(
            f"{results[ours]['label']}, {condition}: times better than each, ratio per pass,"
            " median [min-max] (above 1: conveyor is ahead; latency: theirs / ours)"
        )
        out("")
        out(_row(["versus", *HEADS]))
        out(_row(["---"] * (len(HEADS) + 1)))
        for peer, row in all_ratios[ours].items():
            if _store(results[peer]) == store:
                out(_row([results[peer]["label"], *[fmt_ratio(row[m]) for m, *_ in METRICS]]))


def print_passes(passes: list[dict[str, Any]], out: Callable[[str], None]) -> None:
    if not passes:
        return
    out("")
    out("Passes: load average (1 min) before -> after, CPU busy % during (all cores)")
    out("")
    out(_row(["pass", "condition", "order", "load before", "load after", "CPU busy", "seconds"]))
    out(_row(["---"] * 7))
    for p in passes:
        busy = "n/a" if p.get("cpu_busy_pct") is None else f"{p['cpu_busy_pct']:.0f}%"
        out(
            _row(
                [
                    str(p["pass"]),
                    p["condition"],
                    ", ".join(p["order"]),
                    f"{p['load_before'][0]:.2f}",
                    f"{p['load_after'][0]:.2f}",
                    busy,
                    f"{p['seconds']:.0f}",
                ]
            )
        )


def print_document(document: dict[str, Any], out: Callable[[str], None]) -> None:
    info = document["machine"]
    out("")
    out(
        f"Machine: {info['cpus']} CPUs ({info['cpu']}), Python {info['python']}, Redis"
        f" {info['redis_server']}, PostgreSQL {info.get('postgresql_server') or 'n/a'};"
        f" {document['settings']['runs']} pass(es) per condition"
    )
    for condition, block in document["conditions"].items():
        print_condition(condition, block["systems"], out)
    print_passes(document.get("passes", []), out)


def chart(results: dict[str, dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    order = [store for store, _ in STORES]
    measured = sorted(
        (r for r in results.values() if r.get("summary")),
        key=lambda r: order.index(_store(r)) if _store(r) in order else len(order),
    )
    fig, axes = plt.subplots(3, 2, figsize=(13, 13))
    for ax, (metric, heading, unit, higher) in zip(axes.flat, METRICS, strict=True):
        rows = [(r["label"], r["summary"][metric], r) for r in measured]
        labels = [f"{label} [{_store(r)}]" for label, _, r in rows]
        values = [s["median"] or 0 for _, s, _ in rows]
        errors = [
            [(s["median"] - s["min"]) if s["median"] else 0 for _, s, _ in rows],
            [(s["max"] - s["median"]) if s["median"] else 0 for _, s, _ in rows],
        ]
        colors = [_color(r) for _, _, r in rows]
        positions = range(len(rows))
        ax.barh(positions, values, xerr=errors, color=colors, ecolor="#333333", capsize=2)
        ax.set_yticks(list(positions), labels, fontsize=7)
        ax.invert_yaxis()
        better = "higher is better" if higher else "lower is better"
        top = max([s["max"] or 0 for _, s, _ in rows] + [0]) or 1
        low = min((v for v in values if v > 0), default=top)
        logarithmic = metric in ("enqueue_bulk", "latency_p50", "latency_p99", "drain_1")
        for pos, (_, found, _) in zip(positions, rows, strict=True):
            value = found["median"]
            text = "n/a" if value is None else fmt(metric, value)
            x = (found["max"] or low) * 1.1 if logarithmic else (found["max"] or 0) + top * 0.01
            ax.text(x, pos, text, va="center", fontsize=6)
        if logarithmic:
            ax.set_xscale("log")
            ax.set_xlim(low / 2, top * 8)
            ax.set_title(f"{heading} ({unit}, log scale, {better})", fontsize=10)
        else:
            ax.set_xlim(0, top * 1.3)
            ax.set_title(f"{heading} ({unit}, {better})", fontsize=10)
        ax.tick_params(axis="x", labelsize=7)
    handles = [
        Patch(color=_color({"family": family, "tuned": tuned}), label=label)
        for family, tuned, label in [
            ("conveyor", False, "conveyor (defaults)"),
            ("peer", False, "peer, default configuration"),
            ("peer", True, "peer, tuned"),
            ("bare_redis", False, "bare one-pop loop (no guarantees)"),
        ]
    ]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _color(r: dict[str, Any]) -> str:
    if is_conveyor(r):
        return "#2a9d55"
    if r["family"] == "bare_redis":
        return "#e0a030"
    return "#4a78c0" if r["tuned"] else "#9a9a9a"


# -- the run ---------------------------------------------------------------------------
def _postgres_version(url: str) -> str | None:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else None
    except Exception:
        return None


def machine(store: Store, postgres_url: str) -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError, IndexError, ValueError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    versions = {}
    for name in ("conveyor", *PEER_LIBRARIES):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory": memory,
        "python": platform.python_version(),
        "redis_server": store.server_version(),
        "postgresql_server": _postgres_version(postgres_url),
        "versions": versions,
        "load_average_at_start": list(os.getloadavg()),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=int, default=None, help="passes per condition (default 3; --quick: 1)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: small N, one pass")
    parser.add_argument(
        "--systems",
        default=None,
        help="comma-separated system names, families or store:NAME (default: all)",
    )
    parser.add_argument("--list", action="store_true", help="list the systems and exit")
    parser.add_argument(
        "--load",
        choices=("idle", "busy", "both"),
        default=None,
        help="idle machine, busy machine (nice 19 busy loops on every core), or both,"
        " interleaved pass by pass (default idle)",
    )
    parser.add_argument("--busy", action="store_true", help="the same as --load busy")
    parser.add_argument("--seed", type=int, default=None, help="seed of the pass order shuffle")
    parser.add_argument("--drain-jobs", type=int, default=None, help="N for drains (3000)")
    parser.add_argument("--enqueue-jobs", type=int, default=None, help="jobs per enqueue (1000)")
    parser.add_argument("--batch", type=int, default=1000, help="jobs per bulk call (1000)")
    parser.add_argument(
        "--latency-samples", type=int, default=None, help="in all, spread over the passes (150)"
    )
    parser.add_argument(
        "--latency-gap-ms",
        type=float,
        nargs=2,
        default=(20.0, 80.0),
        metavar=("LOW", "HIGH"),
        help="idle time before each latency sample, uniform between LOW and HIGH (20 80)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        help=f"the Redis database to use, emptied between phases ({DEFAULT_REDIS_URL})",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="the PostgreSQL database of the PostgreSQL systems; each uses a schema of its own"
        f" named bench_*, dropped and made again ({DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory")
    parser.add_argument("--keep-logs", action="store_true", help="keep the workers' logs")
    parser.add_argument(
        "--replot",
        type=Path,
        metavar="JSON",
        help="print the tables of a results file again and redraw its charts (beside it)",
    )
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    quick = args.quick
    runs = args.runs or (1 if quick else 3)
    load = "busy" if args.busy else (args.load or "idle")
    return Settings(
        runs=runs,
        enqueue_jobs=args.enqueue_jobs or (500 if quick else 1000),
        drain_jobs=args.drain_jobs or (500 if quick else 3000),
        batch=args.batch,
        latency_samples=math.ceil((args.latency_samples or (30 if quick else 150)) / runs),
        latency_gap=(args.latency_gap_ms[0] / 1000, args.latency_gap_ms[1] / 1000),
        startup_timeout=60.0,
        quick=quick,
        conditions=["idle", "busy"] if load == "both" else [load],
        seed=args.seed if args.seed is not None else random.randrange(1 << 30),
    )


def summarize_run(name: str, run: dict[str, Any]) -> str:
    f = figures(run)
    return f"  {name}: " + ", ".join(
        f"{label} {fmt(metric, f[metric])}"
        for (metric, *_), label in zip(
            METRICS, ["enqueue", "bulk", "drain x1", "drain x2", "p50", "p99"], strict=True
        )
    )


def say(text: str) -> None:
    print(text, flush=True)


def entries(
    systems: list[Any], conditions: list[str]
) -> tuple[dict[str, dict[str, dict[str, Any]]], list[Any]]:
    """Each condition's entries of every system, and the systems that can be measured here."""
    by_condition: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in conditions}
    active = []
    for system in systems:
        entry = system.describe()
        reason = system.unavailable()
        if reason:
            entry.update(status="unavailable", reason=reason)
            say(f"skipping {system.name}: {reason}")
        else:
            entry.update(status="measured", runs=[])
            active.append(system)
        for condition in conditions:
            by_condition[condition][system.name] = json.loads(json.dumps(entry))
    return by_condition, active


def pass_order(active: list[Any], number: int, rng: random.Random) -> list[Any]:
    """The order of one pass: shuffled, so no system always follows the same one."""
    order = list(active)
    rng.shuffle(order)
    return order


def measure_all(
    active: list[Any],
    by_condition: dict[str, dict[str, dict[str, Any]]],
    passes: list[dict[str, Any]],
    args: argparse.Namespace,
) -> bool:
    """Every pass of every condition, each system once per pass in a shuffled order;
    workers, load and keys cleaned up whatever happens. False if interrupted (Ctrl+C)."""
    from systems import Context

    settings = settings_from(args)
    store = Store(args.redis_url)
    workdir = Path(tempfile.mkdtemp(prefix="conveyor-bench-"))
    bench = Bench(settings, store, workdir)
    rng = random.Random(settings.seed)
    opened = []
    try:
        store.flush()
        context = Context(
            redis_url=args.redis_url, workdir=workdir, postgres_url=args.postgres_url
        )
        for system in active:
            system.open(context)
            opened.append(system)
        for number in range(1, settings.runs + 1):
            for condition in settings.conditions:
                order = pass_order(active, number, rng)
                say(f"pass {number} of {settings.runs}, {condition}: {len(order)} systems")
                load = BusyLoad(os.cpu_count() or 1) if condition == "busy" else None
                probe = LoadProbe()
                with load or contextlib.nullcontext():
                    for system in order:
                        run = bench.measure(system, say)
                        run["pass"] = number
                        by_condition[condition][system.name]["runs"].append(run)
                        say(summarize_run(system.name, run))
                record = {
                    "pass": number,
                    "condition": condition,
                    "order": [s.name for s in order],
                    **probe.finish(),
                }
                passes.append(record)
                say(
                    f"  load {record['load_before'][0]:.2f} -> {record['load_after'][0]:.2f},"
                    f" CPU busy {record['cpu_busy_pct']}%"
                )
    except KeyboardInterrupt:
        say("interrupted: the figures so far follow; no results file is written")
        return False
    finally:
        for system in opened:
            with contextlib.suppress(Exception):
                system.close()
        with contextlib.suppress(Exception):
            store.flush()
            store.conn.delete(OWNER_KEY)
        if args.keep_logs:
            say(f"worker logs kept in {workdir / 'logs'}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return True


def summarize(results: dict[str, dict[str, Any]]) -> None:
    for entry in results.values():
        if entry.get("runs"):
            entry["summary"] = summary(entry["runs"])
            entry["median"] = {m: entry["summary"][m]["median"] for m, *_ in METRICS}
            drains = [r["drain_1"]["jobs"] for r in entry["runs"] if r.get("drain_1")]
            entry["drain_jobs"] = drains[0] if drains else None
        elif entry["status"] == "measured":
            entry.update(status="failed", reason="no run completed")


def upgrade(document: dict[str, Any]) -> dict[str, Any]:
    """A results file of the one-condition layout (before passes) in today's layout."""
    if "conditions" in document:
        return document
    systems = document["systems"]
    for entry in systems.values():
        entry.setdefault("store", "sqlite" if entry["family"] == "conveyor_sqlite" else "redis")
    summarize(systems)
    document["conditions"] = {"idle": {"systems": systems}}
    return document


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.replot:
        document = upgrade(json.loads(args.replot.read_text()))
        for block in document["conditions"].values():
            summarize(block["systems"])
        print_document(document, say)
        draw(document, args.replot.with_suffix(""))
        return 0
    # Before any system module is imported: they read these.
    os.environ["BENCH_REDIS_URL"] = args.redis_url
    os.environ["BENCH_POSTGRES_URL"] = args.postgres_url
    sys.path.insert(0, str(BENCH_DIR))
    wanted = [w.strip() for w in args.systems.split(",") if w.strip()] if args.systems else None
    systems = load_systems(wanted)
    if args.list:
        for system in systems:
            reason = system.unavailable()
            line = f"{system.name:<22} {system.store:<11} {system.label}"
            print(line + (f"  [not measured: {reason}]" if reason else ""))
        return 0
    settings = settings_from(args)
    info = machine(Store(args.redis_url), args.postgres_url)
    by_condition, active = entries(systems, settings.conditions)
    started = datetime.datetime.now(datetime.timezone.utc)
    say(
        f"conveyor benchmark: {len(active)} systems, {settings.runs} pass(es) of"
        f" {'+'.join(settings.conditions)}, drain N={settings.drain_jobs}, enqueue"
        f" N={settings.enqueue_jobs}, {settings.latency_samples} latency samples per pass;"
        f" Redis {info['redis_server']} at {args.redis_url}; PostgreSQL"
        f" {info['postgresql_server'] or 'n/a'}; {info['cpus']} CPUs, load"
        f" {info['load_average_at_start'][0]:.2f}; shuffle seed {settings.seed}"
    )
    passes: list[dict[str, Any]] = []
    complete = measure_all(active, by_condition, passes, args)
    for results in by_condition.values():
        summarize(results)
    info["load_average_at_end"] = list(os.getloadavg())
    elapsed = datetime.datetime.now(datetime.timezone.utc) - started
    info["duration_s"] = round(elapsed.total_seconds())
    document = build_document(by_condition, passes, settings, info, started)
    print_document(document, say)
    if not complete:
        return 130
    write(document, settings, started, args.out)
    measured = any(r.get("summary") for block in by_condition.values() for r in block.values())
    return 0 if measured else 1


def chart_title(document: dict[str, Any], condition: str) -> str:
    info = document["machine"]
    return (
        f"conveyor vs peers, {condition} machine, {document['started'][:10]}, {info['cpus']}"
        f" CPUs ({info['cpu']}), median [min-max] of {document['settings']['runs']} pass(es)"
    )


def build_document(
    by_condition: dict[str, dict[str, dict[str, Any]]],
    passes: list[dict[str, Any]],
    settings: Settings,
    info: dict[str, Any],
    started: datetime.datetime,
) -> dict[str, Any]:
    return {
        "layout": 2,
        "started": started.isoformat(timespec="seconds"),
        "machine": info,
        "settings": asdict(settings),
        "metrics": {m: {"title": t, "unit": u, "higher_is_better": h} for m, t, u, h in METRICS},
        "passes": passes,
        "conditions": {
            condition: {
                "systems": results,
                "ratios": ratios(results),
                "targets": targets(results),
            }
            for condition, results in by_condition.items()
        },
    }


def draw(document: dict[str, Any], stem: Path) -> list[Path]:
    """One chart per condition: ``<stem>.png`` for idle, ``<stem>-busy.png`` for busy."""
    pictures = []
    for condition, block in document["conditions"].items():
        suffix = "" if condition == "idle" else f"-{condition}"
        picture = stem.with_name(f"{stem.name}{suffix}.png")
        chart(block["systems"], picture, chart_title(document, condition))
        pictures.append(picture)
    return pictures


def write(
    document: dict[str, Any], settings: Settings, started: datetime.datetime, out: Path
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(document, indent=2) + "\n"
    if settings.quick:
        paths = [out / "quick.json"]
    else:
        paths = [out / f"{stamp}.json", out / "latest.json"]
    for path in paths:
        path.write_text(text)
    pictures = draw(document, out / ("quick" if settings.quick else "latest"))
    say("")
    say("wrote " + ", ".join(str(p) for p in [*paths, *pictures]))


if __name__ == "__main__":
    sys.exit(main())
