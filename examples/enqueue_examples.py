"""Enqueue the reference's example jobs, plus a job that fails."""

from __future__ import annotations

import example_jobs

import conveyor as jobs

jobs.enqueue(example_jobs.log_job, ["My log message"])
jobs.enqueue(example_jobs.log_job, ["My log message"], {"logger": "myext.foo"})
jobs.enqueue(example_jobs.log_job, ["My log message"], title="My log job")
jobs.enqueue(example_jobs.log_job, ["My log message"], rq_kwargs={"timeout": 3600})
jobs.enqueue(example_jobs.log_job, ["I'm from a different queue!"], queue="my-own-queue")
jobs.enqueue(example_jobs.add, [2, 3], title="Add two numbers")
jobs.enqueue(example_jobs.slow_square, [7], title="Square slowly")
failing = jobs.enqueue(example_jobs.fail, ["on purpose"], title="A job that fails")
print(f"Enqueued 8 jobs; the failing one is {failing.id}")
