"""The client's CPU cost of conveyor's hot paths, for two source trees side by side.

    .venv/bin/python bench/hotpath.py --before /tmp/old/src [--after src] [--runs 9]

For a change that must not slow enqueue or claim/complete (a new job field, a
new check), on a machine too busy for wall-clock figures: each run is a fresh
process that enqueues ``--jobs`` jobs one ``conveyor.enqueue`` call at a time,
then drains them with ``Backend.complete_and_claim`` (batches of 10, no
worker processes), and reports jobs per second of its own CPU time
(``time.process_time``), so other processes on the machine barely move it.
The server's time (Redis) is not counted. The runs alternate between the two
trees; the medians and their ratio (after / before) are printed.

``--before`` is a tree's ``src`` folder, e.g. from
``git archive <commit> src | tar -x -C /tmp/old``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

# One run, in a process of its own whose sys.path starts with the tree to measure.
_RUN = """
import sys, time
sys.path.insert(0, sys.argv[1])
import conveyor
from conveyor.api import backend
from conveyor.backends.base import Completion, JobState

url, count = sys.argv[2], int(sys.argv[3])
conveyor.configure(settings={"conveyor.backend": url, "conveyor.site_id": "hotpath"})
started = time.process_time()
for _ in range(count):
    conveyor.enqueue("operator:truth", [1])
enqueued = time.process_time()
store = backend()
queues = [conveyor.config.current().queue_prefix + "default"]
claimed = store.claim(queues, worker="hotpath", lease=60, now=time.time(), limit=10)
done = 0
while claimed:
    outcomes = [Completion(r.id, r.lease_token, JobState.FINISHED, result=b"\\x01true")
                for r in claimed]
    done += len(outcomes)
    _, claimed = store.complete_and_claim(
        outcomes, queues, worker="hotpath", lease=60, now=time.time(), limit=10)
drained = time.process_time()
assert done == count, (done, count)
print(count / (enqueued - started), count / (drained - enqueued))
"""


def store_url(store: str, scratch: Path) -> str:
    if store == "sqlite":
        return f"sqlite:///{scratch / uuid.uuid4().hex}.db"
    return f"redis://127.0.0.1:6379/0?namespace=hotpath-{uuid.uuid4().hex[:12]}"


def forget(url: str) -> None:
    """Delete a Redis run's keys (its namespace is its own)."""
    if not url.startswith("redis"):
        return
    import redis

    client = redis.Redis.from_url(url.partition("?")[0])
    namespace = url.rpartition("namespace=")[2]
    keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def run(tree: Path, store: str, jobs: int, scratch: Path) -> tuple[float, float]:
    url = store_url(store, scratch)
    try:
        out = subprocess.run(
            [sys.executable, "-c", _RUN, str(tree), url, str(jobs)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        forget(url)
    enqueue, drain = (float(value) for value in out.split())
    return enqueue, drain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the src folder to compare to")
    parser.add_argument("--after", type=Path, default=Path(__file__).parent.parent / "src")
    parser.add_argument("--stores", default="sqlite,redis")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--jobs", type=int, default=5000)
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    with tempfile.TemporaryDirectory() as scratch:
        for store in args.stores.split(","):
            figures: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
            began = time.monotonic()
            for _ in range(args.runs):
                for name, tree in trees.items():
                    figures[name].append(run(tree, store, args.jobs, Path(scratch)))
            medians = {
                name: [statistics.median(run[i] for run in runs) for i in (0, 1)]
                for name, runs in figures.items()
            }
            before, after = medians["before"], medians["after"]
            print(
                f"{store}: enqueue {before[0]:.0f} -> {after[0]:.0f} jobs/CPU-s"
                f" (x{after[0] / before[0]:.3f}); complete_and_claim {before[1]:.0f}"
                f" -> {after[1]:.0f} (x{after[1] / before[1]:.3f});"
                f" {args.runs} runs each, {time.monotonic() - began:.0f}s"
            )


if __name__ == "__main__":
    main()
