"""Where one worker's time goes: CPU, waits for a core and sleeps, per process, during a drain.

    .venv/bin/python bench/schedstat.py [--tree src] [--jobs 20000] [--load idle|busy]
        [--concurrency 1] [--redis-url redis://127.0.0.1:6379/7]

Enqueues ``--jobs`` of the benchmark's jobs (``jobs.incr``: one Redis ``INCR``
from the child) on Redis, runs one burst worker (``conveyor jobs
worker --burst``) from ``--tree`` until they are done, and prints, per job,
for the supervisor, each child and the Redis server: CPU time (user and
system), the time spent runnable but waiting for a core, and voluntary and
involuntary context switches. They come from ``/proc/<pid>/schedstat``,
``/stat`` and ``/status``, sampled every 20 ms while the worker runs (its
processes' last sample counts) and read before and after for Redis. With
``--load busy``, one ``nice -n 19`` busy loop per core runs meanwhile, as in
``make bench``'s busy passes. Linux only; the Redis server must run on this
machine (its pid is what ``INFO server`` says). The jobs/s figure is timed
inside the jobs (first to last), so start-up is left out of it; the worker's
CPU figures include its start-up (about 0.2 s: use 20,000 jobs or more).

The database given is emptied: use one of your own.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

BENCH = Path(__file__).resolve().parent

ROOT = BENCH.parent
SITE = "schedstat"


Counters = dict[str, float]


def sample(pid: int) -> Counters | None:
    """The counters of one process, or None once it has gone."""
    try:
        on_cpu, waiting, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")

    def field(name: str) -> float:
        return float(status.split(name + ":")[1].split()[0])

    return {
        "cpu": int(on_cpu) / 1e9,
        "user": int(stat[11]) / tick,
        "system": int(stat[12]) / tick,
        "waiting": int(waiting) / 1e9,
        "voluntary": field("\nvoluntary_ctxt_switches"),
        "involuntary": field("nonvoluntary_ctxt_switches"),
    }


def redis_pid(client: redis.Redis) -> int:
    pid = int(client.info("server")["process_id"])
    if not Path(f"/proc/{pid}").exists():
        raise SystemExit(f"Redis's process {pid} is not on this machine")
    return pid


def children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def drain(args: argparse.Namespace, env: dict[str, str]) -> tuple[int, dict[int, Counters]]:
    """Run one burst worker to the end; its pid, and each of its processes' last counters."""
    loops = []
    if args.load == "busy":
        for _ in range(os.cpu_count() or 1):
            loop = ["nice", "-n", "19", sys.executable, "-c", "while True: pass"]
            loops.append(subprocess.Popen(loop))
        time.sleep(0.3)
    last: dict[int, Counters] = {}
    done = threading.Event()
    command = [sys.executable, "-m", "conveyor", "jobs", "worker", "--burst"]
    with tempfile.TemporaryFile() as log:
        worker = subprocess.Popen(
            [*command, "--concurrency", str(args.concurrency)],
            env=env,
            stderr=log,
            cwd=BENCH,
            start_new_session=True,
        )

        def watch() -> None:
            while not done.is_set():
                for pid in [worker.pid, *children_of(worker.pid)]:
                    counters = sample(pid)
                    if counters is not None:
                        last[pid] = counters
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            worker.wait()
        finally:
            done.set()
            watcher.join()
            for loop in loops:
                loop.kill()
                loop.wait()
    return worker.pid, last


def show(name: str, counters: Counters, jobs_run: int) -> None:
    per_job = {key: value / jobs_run for key, value in counters.items()}
    print(
        f"  {name:12} {1e6 * per_job['cpu']:6.1f} µs ({1e6 * per_job['user']:.0f} +"
        f" {1e6 * per_job['system']:.0f}) | {1e6 * per_job['waiting']:6.1f} µs |"
        f" {per_job['voluntary']:.2f}, {per_job['involuntary']:.2f}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", default=str(ROOT / "src"), help="a src folder (src)")
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--load", choices=("idle", "busy"), default="idle")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    args = parser.parse_args(argv)

    client = redis.Redis.from_url(args.redis_url)
    client.flushdb()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")},
        "PYTHONPATH": os.pathsep.join([args.tree, str(BENCH)]),
        "CONVEYOR_BACKEND": f"{args.redis_url}?namespace=schedstat",
        "CONVEYOR_SITE_ID": SITE,
        "BENCH_REDIS_URL": args.redis_url,
        "BENCH_TARGET": str(args.jobs),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    enqueue = [sys.executable, "-c", _ENQUEUE, "jobs:incr", str(args.jobs)]
    subprocess.run(enqueue, env=env, check=True, cwd=BENCH)
    server = redis_pid(client)
    before = sample(server)
    worker_pid, last = drain(args, env)
    after = sample(server)
    if before is None or after is None:
        raise SystemExit("Redis's process went away during the drain")

    sys.path.insert(0, str(BENCH))
    import jobs  # the benchmark's jobs, beside this file (imported here: sample() needs none)

    ran = int(client.get(jobs.COUNTER) or 0)
    first, final = client.get(jobs.FIRST_AT), client.get(jobs.LAST_AT)
    rate = f"{ran / (float(final) - float(first)):,.0f} jobs/s" if first and final else "-"
    print(f"{args.load}, --concurrency {args.concurrency}: {ran} jobs ran, {rate}")
    print("per job: CPU (user + system) | waiting for a core | switches voluntary, involuntary")
    for pid, counters in last.items():
        show("supervisor" if pid == worker_pid else f"child {pid}", counters, args.jobs)
    show("redis", {key: after[key] - before[key] for key in after}, args.jobs)
    client.flushdb()


_ENQUEUE = """
import sys
import conveyor
fn, count = sys.argv[1], int(sys.argv[2])
for start in range(0, count, 1000):
    conveyor.enqueue_many([{"fn": fn}] * min(1000, count - start))
"""


if __name__ == "__main__":
    main()
