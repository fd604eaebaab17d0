"""Source trees of conveyor, alternating, on one Redis worker: drain and idle latency.

    .venv/bin/python bench/ab.py --tree /tmp/old/src --tree src [--rounds 6] [--jobs 20000]
        [--job noop|incr] [--samples 300] [--redis-url redis://127.0.0.1:6379/9] [--prefetch N]

For each round, each tree in turn (the order alternates, so drift hits all
alike), in fresh processes whose ``PYTHONPATH`` starts with the tree:

- **drain**: ``--jobs`` jobs are enqueued, then one burst worker
  (``conveyor jobs worker --burst``) runs them all: jobs a second, and CPU a
  job of the supervisor and of its child (from ``os.times()`` at the
  supervisor's exit) and of Redis (``INFO cpu``);
- **latency**: one worker waits, idle; a job is enqueued every 20-80 ms and
  records when it starts. Reported: the whole time from the enqueue call to
  the job's start (p50, p99), and its two parts, the enqueue call itself and
  the rest (the worker's wake-up, claim and hand-off to its child).

The figures are medians over the rounds with [min-max]. The Redis database
given is emptied: use one of your own. ``--tree`` is a ``src`` folder, e.g.
from ``git archive <commit> src | tar -x -C /tmp/old``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import redis

_JOBS = """
import time
import redis

_client = None


def _redis():
    global _client
    if _client is None:
        _client = redis.Redis.from_url(__import__("os").environ["AB_REDIS_URL"])
    return _client


def noop():
    pass


def incr():
    _redis().incr("ab:count")


def stamp():
    started = time.time()
    _redis().rpush("ab:started", repr(started))
"""

# Run in the supervisor at exit: its own CPU and its (reaped) child's.
_SITE = """
import atexit, os, sys
if "worker" in sys.argv:
    _pid = os.getpid()
    def _report():
        if os.getpid() == _pid:
            t = os.times()
            with open(os.environ["AB_CPU_FILE"], "w") as out:
                out.write(f"{t.user + t.system} {t.children_user + t.children_system}")
    atexit.register(_report)
"""

_ENQUEUE = """
import sys
import conveyor
count, job = int(sys.argv[1]), sys.argv[2]
for start in range(0, count, 1000):
    conveyor.enqueue_many([{"fn": "ab_jobs:" + job}] * min(1000, count - start))
"""

_LATENCY = """
import random, sys, time
import redis
import conveyor
import ab_jobs
client = redis.Redis.from_url(sys.argv[2])
totals, calls, rests = [], [], []
for n in range(int(sys.argv[1]) + 5):
    time.sleep(random.uniform(0.02, 0.08))
    began = time.time()
    conveyor.enqueue(ab_jobs.stamp)
    returned = time.time()
    _, value = client.blpop("ab:started", timeout=10)
    started = float(value)
    if n >= 5:  # the first few warm the worker up
        totals.append(started - began)
        calls.append(returned - began)
        rests.append(started - returned)
print(*(statistics_line(xs) for xs in (totals, calls, rests)))
"""

_STATS = """
def statistics_line(xs):
    xs = sorted(xs)
    return f"{xs[len(xs) // 2] * 1000:.3f},{xs[min(len(xs) - 1, int(len(xs) * 0.99))] * 1000:.3f}"
"""


def _env(tree: str, helpers: Path, url: str, prefetch: int | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([tree, str(helpers)])
    env["CONVEYOR_BACKEND"] = url
    env["AB_REDIS_URL"] = url
    env["AB_CPU_FILE"] = str(helpers / "cpu.txt")
    if prefetch is not None:
        env["CONVEYOR_WORKER_PREFETCH"] = str(prefetch)
    return env


def _conveyor() -> list[str]:
    return [sys.executable, "-c", "import sys; from conveyor.cli import main; sys.exit(main())"]


def drain(tree: str, helpers: Path, args: argparse.Namespace) -> dict[str, float]:
    env = _env(tree, helpers, args.redis_url, args.prefetch)
    client = redis.Redis.from_url(args.redis_url)
    client.flushdb()
    subprocess.run(
        [sys.executable, "-c", _ENQUEUE, str(args.jobs), args.job],
        env=env,
        cwd=helpers,
        check=True,
    )
    before = client.info("cpu")
    began = time.perf_counter()
    subprocess.run(
        [*_conveyor(), "jobs", "worker", "--burst"],
        env=env,
        cwd=helpers,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - began
    after = client.info("cpu")
    store = sum(after[k] - before[k] for k in ("used_cpu_sys", "used_cpu_user"))
    supervisor, child = map(float, (helpers / "cpu.txt").read_text().split())
    per_job = 1e6 / args.jobs
    return {
        "jobs/s": args.jobs / wall,
        "supervisor us": supervisor * per_job,
        "child us": child * per_job,
        "redis us": store * per_job,
    }


def latency(tree: str, helpers: Path, args: argparse.Namespace) -> dict[str, float]:
    env = _env(tree, helpers, args.redis_url, args.prefetch)
    redis.Redis.from_url(args.redis_url).flushdb()
    worker = subprocess.Popen(
        [*_conveyor(), "jobs", "worker"],
        env=env,
        cwd=helpers,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", _STATS + _LATENCY, str(args.samples), args.redis_url],
            env=env,
            cwd=helpers,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    figures: dict[str, float] = {}
    for name, pair in zip(("total", "enqueue call", "rest"), out, strict=True):
        p50, p99 = map(float, pair.split(","))
        figures[f"{name} p50 ms"], figures[f"{name} p99 ms"] = p50, p99
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", required=True, help="a src folder (twice+)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--job", choices=["noop", "incr"], default="noop")
    parser.add_argument("--samples", type=int, default=300, help="latency samples a round")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--prefetch", type=int, default=None, help="conveyor.worker.prefetch")
    parser.add_argument("--no-latency", action="store_true")
    args = parser.parse_args()
    trees = [str(Path(tree).resolve()) for tree in args.tree]
    results: dict[str, list[dict[str, float]]] = {tree: [] for tree in trees}
    with tempfile.TemporaryDirectory(prefix="conveyor-ab-") as tmp:
        helpers = Path(tmp)
        (helpers / "ab_jobs.py").write_text(textwrap.dedent(_JOBS))
        (helpers / "sitecustomize.py").write_text(_SITE)
        for round_ in range(args.rounds):
            order = trees if round_ % 2 == 0 else trees[::-1]
            for tree in order:
                figures = drain(tree, helpers, args)
                if not args.no_latency:
                    figures |= latency(tree, helpers, args)
                results[tree].append(figures)
                shown = ", ".join(f"{k} {v:,.2f}" for k, v in figures.items())
                print(f"round {round_ + 1} {tree}: {shown}", flush=True)
    print()
    for tree, rounds in results.items():
        print(tree)
        for key in rounds[0]:
            values = sorted(r[key] for r in rounds)
            median = statistics.median(values)
            print(f"  {key:18} {median:10,.2f} [{values[0]:,.2f}-{values[-1]:,.2f}]")


if __name__ == "__main__":
    main()
