"""Redis's time for conveyor's scripts, two versions of them alternating batch by batch.

    .venv/bin/python bench/scripts_ab.py --before /tmp/old/src/conveyor/backends/redis/lua
        [--after src/conveyor/backends/redis/lua] [--jobs 12000] [--batch 30]
        [--redis-url redis://127.0.0.1:6379/8]

For a change to the Lua scripts alone, on a machine too noisy for whole drains
to tell: one process enqueues ``--jobs`` jobs and drains them with
``Backend.complete_and_claim`` in batches of ``--batch``, loading both
versions of ``enqueue.lua``, ``claim.lua`` and ``complete.lua`` (each with its
``common.lua``) and switching between them every batch, on one queue. Each
batch's Redis time is read from ``INFO commandstats`` (the ``EVALSHA`` time
before and after it), so it counts the server only. Printed: the median per
job of each version, for ``complete_and_claim`` and for ``enqueue_many`` (500
jobs a call), and their ratios (after / before). Drift hits both versions
alike, as they take turns. Both versions must read and write the same layout.

The database given is emptied: use one of your own.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import conveyor  # noqa: E402 -- from this checkout, whatever is installed
from conveyor.api import backend  # noqa: E402
from conveyor.backends.base import Completion, JobState  # noqa: E402

SCRIPTS = ("enqueue", "claim", "complete")


def evalsha_micros(client: redis.Redis) -> float:
    return float(client.info("commandstats")["cmdstat_evalsha"]["usec"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="a folder of .lua scripts")
    parser.add_argument("--after", type=Path, default=ROOT / "src/conveyor/backends/redis/lua")
    parser.add_argument("--jobs", type=int, default=12000)
    parser.add_argument("--batch", type=int, default=30)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    args = parser.parse_args(argv)

    client = redis.Redis.from_url(args.redis_url)
    client.flushdb()
    conveyor.configure(
        settings={
            "conveyor.backend": f"{args.redis_url}?namespace=scripts-ab",
            "conveyor.site_id": "scripts-ab",
        }
    )
    store = backend()
    versions = {}
    for name, folder in (("before", args.before), ("after", args.after)):
        common = (folder / "common.lua").read_text()
        versions[name] = {
            script: store._redis.register_script(
                common + "\n" + (folder / f"{script}.lua").read_text()
            )
            for script in SCRIPTS
        }
        for script in versions[name].values():
            client.script_load(script.script)
    queues = [conveyor.config.current().queue_prefix + "default"]
    enqueue: dict[str, list[float]] = {"before": [], "after": []}
    drain: dict[str, list[float]] = {"before": [], "after": []}

    for start in range(0, args.jobs, 1000):
        for name in ("before", "after"):
            store._scripts.update(versions[name])
            count = min(500, args.jobs - start)
            used = evalsha_micros(client)
            conveyor.enqueue_many([{"fn": "operator:truth", "args": [1]}] * count)
            enqueue[name].append((evalsha_micros(client) - used) / count)
    claimed = store.claim(queues, worker="scripts-ab", lease=60, now=time.time(), limit=args.batch)
    turn = 0
    while claimed:
        name = ("before", "after")[turn % 2]
        turn += 1
        store._scripts.update(versions[name])
        outcomes = [
            Completion(job.id, job.lease_token, JobState.FINISHED, result=b"\x01true")
            for job in claimed
        ]
        used = evalsha_micros(client)
        _, claimed = store.complete_and_claim(
            outcomes, queues, worker="scripts-ab", lease=60, now=time.time(), limit=args.batch
        )
        drain[name].append((evalsha_micros(client) - used) / len(outcomes))
    client.flushdb()

    print("Redis µs a job, median [min-max] of the calls")
    for label, figures in (("complete_and_claim", drain), ("enqueue_many", enqueue)):
        for name in ("before", "after"):
            values = figures[name]
            print(
                f"  {label:18} {name:6} {statistics.median(values):7.2f}"
                f" [{min(values):.2f}-{max(values):.2f}] over {len(values)} calls"
            )
        ratio = statistics.median(figures["after"]) / statistics.median(figures["before"])
        print(f"  {label:18} after / before: x{ratio:.3f}")


if __name__ == "__main__":
    main()
