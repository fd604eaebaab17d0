"""The store's cost of enqueue, claim and complete, for two source trees, on a busy machine.

    .venv/bin/python bench/store_cost.py --before /tmp/old/src [--after src]
        [--stores sqlite,postgresql,redis] [--runs 3] [--reps 40]

For a change to what a store does as jobs move (triggers, counters,
statistics) measured where wall-clock drains are drowned by other load: each
run is a fresh process on a fresh store that repeats ``--reps`` times a cycle
of ``Backend`` calls on 100 jobs: ``enqueue`` (one batch), ``claim``
(``limit=100``), ``complete`` (100 finished), and a worker's loop of
``complete_and_claim`` with batches of 10. Each phase's figure is the
**minimum** over the repetitions, in microseconds per job: the run least
disturbed by other processes, which on a loaded machine is the one closest
to the code's own cost (the server's work included, unlike
``bench/hotpath.py``'s client CPU). Runs alternate between the trees; the
medians of the runs' minima and their ratio (after / before) are printed.

Stores: SQLite in a temporary directory, PostgreSQL ``--postgresql-url``
(default database ``cv_counts``, a schema per run, dropped after it), Redis
``--redis-url`` (default db 11, a namespace per run, deleted after it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import uuid

_RUN = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from conveyor.backends import open_backend
from conveyor.backends.base import Completion, JobState, NewJob

store = open_backend(sys.argv[2])
reps = int(sys.argv[3])
queue = "conveyor:cost:default"
best = {"enqueue": [], "claim": [], "complete": [], "complete_and_claim x10": []}
serial = 0

def jobs(n):
    global serial
    serial += 1
    return [NewJob(id=f"{serial}-{i}", queue=queue, func="operator:truth", payload=b"\\x01[1]",
                   created_at=time.time(), timeout=60) for i in range(n)]

def lap(name, started, n):
    best[name].append((time.perf_counter() - started) * 1e6 / n)

for _ in range(reps):
    batch = jobs(100)
    started = time.perf_counter()
    store.enqueue(batch, now=time.time())
    lap("enqueue", started, 100)
    started = time.perf_counter()
    claimed = store.claim([queue], worker="w", lease=60, now=time.time(), limit=100)
    lap("claim", started, 100)
    done = [Completion(r.id, r.lease_token, JobState.FINISHED, result=b"\\x01true")
            for r in claimed]
    started = time.perf_counter()
    store.complete(done, now=time.time())
    lap("complete", started, 100)
    store.enqueue(jobs(100), now=time.time())
    started = time.perf_counter()
    claimed = store.claim([queue], worker="w", lease=60, now=time.time(), limit=10)
    finished = 0
    while claimed:
        done = [Completion(r.id, r.lease_token, JobState.FINISHED, result=b"\\x01true")
                for r in claimed]
        finished += len(done)
        _, claimed = store.complete_and_claim(done, [queue], worker="w", lease=60,
                                              now=time.time(), limit=10)
    lap("complete_and_claim x10", started, finished)
    store.purge(now=time.time() + 10**6)
store.close()
print(json.dumps({name: min(values) for name, values in best.items()}))
"""


def store_url(store: str, scratch: str, args: argparse.Namespace) -> tuple[str, str]:
    """A fresh store's URL, and what to drop afterwards."""
    tag = uuid.uuid4().hex[:10]
    if store == "sqlite":
        return f"sqlite:///{scratch}/{tag}.sqlite3", ""
    if store == "postgresql":
        return f"{args.postgresql_url}?schema=cost_{tag}", f"cost_{tag}"
    return f"{args.redis_url}?namespace=cost-{tag}", f"cost-{tag}"


def drop(store: str, name: str, args: argparse.Namespace) -> None:
    if store == "postgresql":
        import psycopg

        with psycopg.connect(args.postgresql_url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    elif store == "redis":
        import redis

        client = redis.Redis.from_url(args.redis_url)
        keys = list(client.scan_iter(match=f"{name}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def one_run(src: str, store: str, args: argparse.Namespace, scratch: str) -> dict[str, float]:
    url, name = store_url(store, scratch, args)
    try:
        out = subprocess.run(
            [sys.executable, "-c", _RUN, src, url, str(args.reps)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        figures: dict[str, float] = json.loads(out.strip().splitlines()[-1])
        return figures
    finally:
        drop(store, name, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="the src folder of the tree before")
    parser.add_argument("--after", default="src")
    parser.add_argument("--stores", default="sqlite,postgresql,redis")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument(
        "--postgresql-url", default="postgresql://postgres@127.0.0.1:5432/cv_counts"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    args = parser.parse_args()
    print("| store | phase | before (µs/job) | after (µs/job) | after / before |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="conveyor-cost-") as scratch:
        for store in args.stores.split(","):
            found: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
            for _ in range(args.runs):
                for side, src in (("before", args.before), ("after", args.after)):
                    found[side].append(one_run(src, store, args, scratch))
            for phase in found["before"][0]:
                before = statistics.median(run[phase] for run in found["before"])
                after = statistics.median(run[phase] for run in found["after"])
                spread = ", ".join(
                    f"{b[phase]:.1f}/{a[phase]:.1f}"
                    for b, a in zip(found["before"], found["after"], strict=True)
                )
                print(
                    f"| {store} | {phase} | {before:.1f} | {after:.1f} | {after / before:.2f}"
                    f" (runs, before/after: {spread}) |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
