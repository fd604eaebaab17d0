"""The producer host's program: enqueue jobs of ``host_jobs`` and print their ids as JSON.

    python produce.py RUNS PREFIX COUNT SECONDS

enqueues COUNT runs of ``host_jobs.exclusive_run`` named PREFIX-0 ... (each
``SECONDS`` long) in one call, through the store named by ``CONVEYOR_BACKEND``,
and prints ``{"PREFIX-0": "job id", ...}``.
"""

from __future__ import annotations

import json
import sys

import host_jobs

import conveyor


def main() -> int:
    runs, prefix, count, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    names = [f"{prefix}-{n}" for n in range(count)]
    jobs = conveyor.enqueue_many(
        {"fn": host_jobs.exclusive_run, "args": [runs, name, seconds]} for name in names
    )
    print(json.dumps({name: job.id for name, job in zip(names, jobs, strict=True)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
