"""conveyor against its Python peers, side by side, on one Redis server.

    .venv-bench/bin/python bench/run.py [--runs 3] [--quick] [--systems a,b,...]

(``make bench`` creates ``.venv-bench`` with ``bench/setup.sh`` and runs this.)

For every system (conveyor on SQLite, conveyor on Redis, RQ, Celery, Dramatiq
and Huey, each in its default and its fastest sensible configuration, and a
bare redis-py loop) it measures, with no-op jobs that each do one Redis INCR:

- enqueue: jobs/s, one ordinary call per job;
- bulk enqueue: jobs/s with the library's own API for many jobs (n/a if none);
- drain: jobs/s for N pre-queued jobs, with one worker process and with two,
  timed inside the jobs from the first job's start to the last job's end;
- latency: from just before the enqueue call to the job's start, on an idle
  worker, median and 99th percentile.

Each figure is the median of several runs (the runs go round all systems in
turn, so a slow spell on a shared machine does not fall on one system only).
It prints the figures and conveyor's ratio to each peer, and writes
``bench/results/<timestamp>.json``, ``latest.json`` and ``latest.png``.

Every system uses the same Redis database (default 15 on 127.0.0.1:6379),
emptied with FLUSHDB (that database only) before every phase; the harness
refuses a database that holds keys it did not write.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
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
PEER_LIBRARIES = ("rq", "celery", "dramatiq", "huey", "kombu", "redis", "hiredis")


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
        began = time.perf_counter()
        for _ in range(count):
            system.enqueue_incr()
        return count / (time.perf_counter() - began)

    def enqueue_bulk(self, system: Any) -> float | None:
        if system.bulk_api is None:
            return None
        self.reset(system)
        count = self.s.enqueue_jobs
        began = time.perf_counter()
        self._enqueue_batches(system, count)
        return count / (time.perf_counter() - began)

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


def figures(run: dict[str, Any]) -> dict[str, float | None]:
    """The six figures of one run."""
    return {
        "enqueue": run.get("enqueue"),
        "enqueue_bulk": run.get("enqueue_bulk"),
        "drain_1": (run.get("drain_1") or {}).get("rate"),
        "drain_2": (run.get("drain_2") or {}).get("rate"),
        **_latency((run.get("latency") or {}).get("samples_ms", [])),
    }


def medians(runs: list[dict[str, Any]]) -> dict[str, float | None]:
    """Throughputs: the median of the runs. Latency: percentiles of all runs' samples."""
    result: dict[str, float | None] = {}
    for metric in ("enqueue", "enqueue_bulk", "drain_1", "drain_2"):
        values = [v for v in (figures(run)[metric] for run in runs) if v is not None]
        result[metric] = statistics.median(values) if values else None
    pooled = [x for run in runs for x in (run.get("latency") or {}).get("samples_ms", [])]
    result.update(_latency(pooled))
    return result


# -- systems -------------------------------------------------------------------------
def load_systems(wanted: list[str] | None) -> list[Any]:
    from systems import MODULES

    chosen = []
    unknown = set(wanted or [])
    for module_name in MODULES:
        module = importlib.import_module(f"systems.{module_name}")
        for system in module.SYSTEMS:
            names = {system.name, system.family, module_name}
            if wanted is None or names & set(wanted):
                chosen.append(system)
                unknown -= names
    if unknown:
        raise SystemExit(f"bench: unknown system(s): {', '.join(sorted(unknown))}")
    return chosen


def is_conveyor(system: dict[str, Any]) -> bool:
    return str(system["family"]).startswith("conveyor")


def is_peer(system: dict[str, Any]) -> bool:
    return not is_conveyor(system) and system["family"] != "bare_redis"


# -- ratios and targets ------------------------------------------------------------
def ratio(ours: float | None, theirs: float | None, higher_is_better: bool) -> float | None:
    """How many times better conveyor is (above 1: better)."""
    if ours is None or theirs is None or ours <= 0 or theirs <= 0:
        return None
    return ours / theirs if higher_is_better else theirs / ours


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, float | None]]]:
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    measured = {n: r for n, r in results.items() if r.get("median")}
    for name, ours in measured.items():
        if not is_conveyor(ours):
            continue
        out[name] = {
            peer_name: {
                metric: ratio(ours["median"][metric], peer["median"][metric], higher)
                for metric, _, _, higher in METRICS
            }
            for peer_name, peer in measured.items()
            if not is_conveyor(peer)
        }
    return out


def _best(results: dict[str, dict[str, Any]], metric: str, keep: Callable[[Any], bool]) -> Any:
    found = [
        (r["median"][metric], name)
        for name, r in results.items()
        if r.get("median") and keep(r) and r["median"][metric] is not None
    ]
    return max(found) if found else (None, None)


class _Checks:
    """Issue 4's targets for one conveyor system, checked one by one."""

    def __init__(self, results: dict[str, dict[str, Any]], ours: dict[str, Any]) -> None:
        self.results = results
        self.m = ours["median"]
        self.items: list[dict[str, Any]] = []

    def add(self, goal: str, value: Any, threshold: Any, met: bool | None) -> None:
        self.items.append({"goal": goal, "value": value, "threshold": threshold, "met": met})

    def below(self, metric: str, limit: float, goal: str) -> None:
        value = self.m[metric]
        self.add(goal, value, limit, None if value is None else value < limit)

    def beat(self, metric: str, factor: float, goal: str, keep: Callable[[Any], bool]) -> None:
        """At least ``factor`` times the best of ``keep``'s systems (factor 1: strictly ahead)."""
        value = self.m[metric]
        best, who = _best(self.results, metric, keep)
        if best is None or value is None:
            self.add(goal + " (not measured)", value, None, None)
            return
        threshold = best * factor
        met = value >= threshold if factor != 1 else value > threshold
        self.add(f"{goal} ({who}: {best:,.0f}/s)", value, threshold, met)


def targets(results: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Issue 4's targets, checked against this run's figures."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, ours in results.items():
        if not is_conveyor(ours) or not ours.get("median"):
            continue
        checks = _Checks(results, ours)
        if ours["family"] == "conveyor_sqlite":
            value = checks.m["drain_1"]
            met = None if value is None else value >= 5000
            checks.add("SQLite drain, 1 process >= 5,000/s", value, 5000, met)
        else:
            default_peer = lambda r: is_peer(r) and not r["tuned"]  # noqa: E731
            tuned_peer = lambda r: is_peer(r) and r["tuned"]  # noqa: E731
            checks.beat("drain_1", 3, "drain, 1 process >= 3x fastest default peer", default_peer)
            checks.beat("drain_1", 1, "drain, 1 process > every tuned peer", tuned_peer)
            checks.beat("drain_2", 2, "drain, 2 processes >= 2x fastest peer", is_peer)
            checks.beat("drain_2", 1, "drain, 2 processes > bare one-pop loop", _is_bare)
            checks.beat("enqueue", 2, "enqueue >= 2x fastest peer", is_peer)
            rq = lambda r: r["family"] == "rq"  # noqa: E731
            checks.beat("enqueue_bulk", 3, "bulk enqueue >= 3x RQ's", rq)
            checks.below("latency_p50", 1.0, "idle latency p50 < 1 ms")
            checks.below("latency_p99", 2.0, "idle latency p99 < 2 ms")
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


def print_tables(results: dict[str, dict[str, Any]], out: Callable[[str], None]) -> None:
    measured = {n: r for n, r in results.items() if r.get("median")}
    width = max([len(r["label"]) for r in measured.values()] + [10])
    heads = ["enqueue", "bulk", "drain x1", "drain x2", "lat p50", "lat p99"]
    out("")
    legend = ", ".join(f"{h} = {t}" for h, (_, t, _, _) in zip(heads, METRICS, strict=True))
    out(f"Medians ({legend})")
    out(f"{'system':<{width}}  " + "  ".join(f"{h:>12}" for h in heads))
    for r in measured.values():
        cells = [fmt(metric, r["median"][metric]) for metric, *_ in METRICS]
        out(f"{r['label']:<{width}}  " + "  ".join(f"{c:>12}" for c in cells))
    for name, reason in ((n, r["reason"]) for n, r in results.items() if not r.get("median")):
        out(f"{name}: not measured: {reason}")
    for ours, table in ratios(results).items():
        out("")
        out(f"{results[ours]['label']}: times better than each (above 1: conveyor is ahead)")
        out(f"{'versus':<{width}}  " + "  ".join(f"{h:>12}" for h in heads))
        for peer, row in table.items():
            cells = ["n/a" if row[m] is None else f"x{row[m]:.2f}" for m, *_ in METRICS]
            out(f"{results[peer]['label']:<{width}}  " + "  ".join(f"{c:>12}" for c in cells))
    for ours, checks in targets(results).items():
        out("")
        out(f"Targets for {results[ours]['label']}:")
        for c in checks:
            mark = {True: "met", False: "NOT MET", None: "-"}[c["met"]]
            value = "n/a" if c["value"] is None else f"{c['value']:,.2f}"
            out(f"  [{mark:>7}] {c['goal']}: {value}")


def chart(results: dict[str, dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    measured = [r for r in results.values() if r.get("median")]
    fig, axes = plt.subplots(3, 2, figsize=(13, 12))
    for ax, (metric, heading, unit, higher) in zip(axes.flat, METRICS, strict=True):
        rows = [(r["label"], r["median"][metric], r) for r in measured]
        labels = [label for label, _, _ in rows]
        values = [v or 0 for _, v, _ in rows]
        colors = [_color(r) for _, _, r in rows]
        positions = range(len(rows))
        ax.barh(positions, [v or 0 for v in values], color=colors)
        ax.set_yticks(list(positions), labels, fontsize=8)
        ax.invert_yaxis()
        better = "higher is better" if higher else "lower is better"
        ax.set_title(f"{heading} ({unit}, {better})", fontsize=10)
        top = max(values, default=0) or 1
        low = min((v for v in values if v > 0), default=top)
        logarithmic = metric == "enqueue_bulk"  # a bare RPUSH next to real enqueues
        for pos, (_, value, _) in zip(positions, rows, strict=True):
            text = "n/a" if value is None else fmt(metric, value)
            x = (value or low) * 1.08 if logarithmic else (value or 0) + top * 0.01
            ax.text(x, pos, text, va="center", fontsize=7)
        if logarithmic:
            ax.set_xscale("log")
            ax.set_xlim(low / 2, top * 8)
            ax.set_title(f"{heading} ({unit}, log scale, {better})", fontsize=10)
        else:
            ax.set_xlim(0, top * 1.25)
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
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _color(r: dict[str, Any]) -> str:
    if is_conveyor(r):
        return "#2a9d55"
    if r["family"] == "bare_redis":
        return "#e0a030"
    return "#4a78c0" if r["tuned"] else "#9a9a9a"


# -- the run ---------------------------------------------------------------------------
def machine(store: Store) -> dict[str, Any]:
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
        "versions": versions,
        "load_average_at_start": list(os.getloadavg()),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (default 3)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small N, one run")
    parser.add_argument(
        "--systems", default=None, help="comma-separated system names or families (default: all)"
    )
    parser.add_argument("--list", action="store_true", help="list the systems and exit")
    parser.add_argument("--drain-jobs", type=int, default=None, help="N for drains (5000)")
    parser.add_argument("--enqueue-jobs", type=int, default=None, help="jobs per enqueue (2000)")
    parser.add_argument("--batch", type=int, default=1000, help="jobs per bulk call (1000)")
    parser.add_argument(
        "--latency-samples", type=int, default=None, help="in all, spread over the runs (200)"
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
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory")
    parser.add_argument("--keep-logs", action="store_true", help="keep the workers' logs")
    parser.add_argument(
        "--replot",
        type=Path,
        metavar="JSON",
        help="print the tables of a results file again and redraw its chart (as .png beside it)",
    )
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    quick = args.quick
    runs = args.runs or (1 if quick else 3)
    return Settings(
        runs=runs,
        enqueue_jobs=args.enqueue_jobs or (500 if quick else 2000),
        drain_jobs=args.drain_jobs or (500 if quick else 5000),
        batch=args.batch,
        latency_samples=math.ceil((args.latency_samples or (30 if quick else 200)) / runs),
        latency_gap=(args.latency_gap_ms[0] / 1000, args.latency_gap_ms[1] / 1000),
        startup_timeout=60.0,
        quick=quick,
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


def entries(systems: list[Any]) -> tuple[dict[str, dict[str, Any]], list[Any]]:
    """Each system's entry in the results, and the systems that can be measured here."""
    results: dict[str, dict[str, Any]] = {}
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
        results[system.name] = entry
    return results, active


def measure_all(
    active: list[Any], results: dict[str, dict[str, Any]], args: argparse.Namespace
) -> bool:
    """Every run of every system, round-robin; workers and keys cleaned up whatever happens.

    False if interrupted (Ctrl+C).
    """
    from systems import Context

    settings = settings_from(args)
    store = Store(args.redis_url)
    workdir = Path(tempfile.mkdtemp(prefix="conveyor-bench-"))
    bench = Bench(settings, store, workdir)
    try:
        store.flush()
        for system in active:
            system.open(Context(redis_url=args.redis_url, workdir=workdir))
        for number in range(1, settings.runs + 1):
            say(f"run {number} of {settings.runs}")
            for system in active:
                run = bench.measure(system, say)
                results[system.name]["runs"].append(run)
                say(summarize_run(system.name, run))
    except KeyboardInterrupt:
        say("interrupted: the figures so far follow; no results file is written")
        return False
    finally:
        for system in active:
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
            entry["median"] = medians(entry["runs"])
            drains = [r["drain_1"]["jobs"] for r in entry["runs"] if r.get("drain_1")]
            entry["drain_jobs"] = drains[0] if drains else None
        elif entry["status"] == "measured":
            entry.update(status="failed", reason="no run completed")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.replot:
        document = json.loads(args.replot.read_text())
        print_tables(document["systems"], say)
        chart(document["systems"], args.replot.with_suffix(".png"), chart_title(document))
        return 0
    os.environ["BENCH_REDIS_URL"] = args.redis_url  # before any system module is imported
    sys.path.insert(0, str(BENCH_DIR))
    wanted = [w.strip() for w in args.systems.split(",") if w.strip()] if args.systems else None
    systems = load_systems(wanted)
    if args.list:
        for system in systems:
            reason = system.unavailable()
            print(f"{system.name:<22} {system.label}" + (f"  [{reason}]" if reason else ""))
        return 0
    settings = settings_from(args)
    info = machine(Store(args.redis_url))
    results, active = entries(systems)
    started = datetime.datetime.now(datetime.timezone.utc)
    say(
        f"conveyor benchmark: {len(active)} systems, {settings.runs} run(s), "
        f"drain N={settings.drain_jobs}, enqueue N={settings.enqueue_jobs}, "
        f"{settings.latency_samples} latency samples per run; Redis {info['redis_server']} at "
        f"{args.redis_url}; {info['cpus']} CPUs, load {info['load_average_at_start'][0]:.2f}"
    )
    complete = measure_all(active, results, args)
    summarize(results)
    info["load_average_at_end"] = list(os.getloadavg())
    elapsed = datetime.datetime.now(datetime.timezone.utc) - started
    info["duration_s"] = round(elapsed.total_seconds())
    print_tables(results, say)
    if not complete:
        return 130
    write(results, settings, info, started, args.out)
    return 0 if any(r.get("median") for r in results.values()) else 1


def chart_title(document: dict[str, Any]) -> str:
    info = document["machine"]
    return (
        f"conveyor vs peers, {document['started'][:10]}, {info['cpus']} CPUs ({info['cpu']}),"
        f" Redis {info['redis_server']}, medians of {document['settings']['runs']} run(s)"
    )


def write(
    results: dict[str, dict[str, Any]],
    settings: Settings,
    info: dict[str, Any],
    started: datetime.datetime,
    out: Path,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    document = {
        "started": started.isoformat(timespec="seconds"),
        "machine": info,
        "settings": asdict(settings),
        "metrics": {m: {"title": t, "unit": u, "higher_is_better": h} for m, t, u, h in METRICS},
        "systems": results,
        "ratios": ratios(results),
        "targets": targets(results),
    }
    text = json.dumps(document, indent=2) + "\n"
    title = chart_title(document)
    if settings.quick:
        paths = [out / "quick.json"]
        picture = out / "quick.png"
    else:
        paths = [out / f"{stamp}.json", out / "latest.json"]
        picture = out / "latest.png"
    for path in paths:
        path.write_text(text)
    chart(results, picture, title)
    say("")
    say("wrote " + ", ".join(str(p) for p in [*paths, picture]))


if __name__ == "__main__":
    sys.exit(main())
