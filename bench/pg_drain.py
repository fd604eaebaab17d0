"""PostgreSQL's enqueue and claim/complete throughput, for two source trees side by side.

    .venv/bin/python bench/pg_drain.py --before /tmp/old/src [--after src] [--jobs 5000] [--runs 3]

For a change to what PostgreSQL does when jobs are stored, claimed and
completed (triggers, statistics): each run is a fresh process on a fresh
schema that enqueues ``--jobs`` jobs with ``enqueue_many`` (batches of 1,000),
then drains them with a burst worker (``conveyor.Worker(...).work(burst=True)``,
one child, the default prefetch). Wall-clock jobs per second of each phase;
the runs alternate between the trees, and the medians [min-max] and the
ratios (after / before) are printed. Uses the database ``--url`` (default
``cv_counts``), one schema per run, dropped after it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import uuid

_RUN = """
import sys, time
sys.path.insert(0, sys.argv[1])
import conveyor
url, count = sys.argv[2], int(sys.argv[3])
conveyor.configure(settings={"conveyor.backend": url, "conveyor.site_id": "pgdrain"})
started = time.perf_counter()
for first in range(0, count, 1000):
    conveyor.enqueue_many([{"fn": "operator:truth", "args": [n]}
                           for n in range(first, min(first + 1000, count))])
enqueued = time.perf_counter()
conveyor.Worker(["default"]).work(burst=True)
drained = time.perf_counter()
assert conveyor.job_count(states=["finished"]) == count
print(count / (enqueued - started), count / (drained - enqueued))
"""


def one_run(src: str, url: str, jobs: int) -> tuple[float, float]:
    import psycopg

    schema = f"pgdrain_{uuid.uuid4().hex[:10]}"
    try:
        out = subprocess.run(
            [sys.executable, "-c", _RUN, src, f"{url}?schema={schema}", str(jobs)],
            check=True, capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        return float(out[-2]), float(out[-1])
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} [{min(values):,.0f}-{max(values):,.0f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="the src folder of the tree before")
    parser.add_argument("--after", default="src")
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/cv_counts")
    args = parser.parse_args()
    found: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
    for run in range(args.runs):
        for side, src in (("before", args.before), ("after", args.after)):
            found[side].append(one_run(src, args.url, args.jobs))
            print(f"run {run + 1} {side}: enqueue {found[side][-1][0]:,.0f}/s,"
                  f" drain {found[side][-1][1]:,.0f}/s", file=sys.stderr, flush=True)  # fmt: skip
    for phase, index in (("enqueue_many", 0), ("burst drain", 1)):
        before = [r[index] for r in found["before"]]
        after = [r[index] for r in found["after"]]
        ratios = [a / b for a, b in zip(after, before, strict=True)]
        print(f"{phase}: before {summary(before)} jobs/s, after {summary(after)} jobs/s,"
              f" after/before {statistics.median(ratios):.2f}"
              f" [{min(ratios):.2f}-{max(ratios):.2f}] (pairs of alternating runs)")  # fmt: skip


if __name__ == "__main__":
    main()
