"""RQ: its default forking Worker, and SimpleWorker (no fork per job)."""

from __future__ import annotations

import jobs

from systems import Context, Guarantees, System

QUEUE = "default"


def _guarantees(simple: bool) -> Guarantees:
    if simple:
        timeout = (
            "soft: SIGALRM raises JobTimeoutException inside the job (default 180 s); a job"
            " stuck in C code or one that swallows the exception runs on, and nothing kills it"
        )
    else:
        timeout = (
            "soft at the job timeout (SIGALRM raises inside the work horse, default 180 s);"
            " hard 60 s later, when the worker kills the work horse"
        )
    return Guarantees(
        delivery="at-most-once",
        ack="the job is moved to the intermediate queue on dequeue and to the started"
        " registry before it runs; its outcome is written after",
        crash="a job whose worker died is found in the started registry once its heartbeat"
        " expires and moved to the failed registry (AbandonedJobError); it is not run again"
        " unless the job was enqueued with a Retry",
        timeout=timeout,
        retries="none by default (Retry(max=...) on request)",
        hoarding="none: one job at a time per worker",
        record="the job's hash with its status and result, kept for result_ttl (500 s)",
    )


class RQSystem(System):
    def open(self, ctx: Context) -> None:
        super().open(ctx)
        import redis
        from rq import Queue

        self._queue_class = Queue
        self.queue = Queue(QUEUE, connection=redis.Redis.from_url(ctx.redis_url))

    def enqueue_incr(self) -> None:
        self.queue.enqueue(jobs.incr)

    def enqueue_incr_many(self, count: int) -> None:
        prepare = self._queue_class.prepare_data
        self.queue.enqueue_many([prepare(jobs.incr) for _ in range(count)])

    def enqueue_stamp(self) -> None:
        self.queue.enqueue(jobs.stamp)

    def worker_commands(self, processes: int) -> list[list[str]]:
        command = [str(self.ctx.bin_dir / "rq"), "worker", "--url", self.ctx.redis_url]
        if self.simple:
            command += ["--worker-class", "rq.worker.SimpleWorker"]
        return [[*command, "--name", f"bench-{i}", QUEUE] for i in range(processes)]

    simple = False


class RQSimple(RQSystem):
    simple = True


PROCESS_MODEL = "N separate `rq worker` processes"
SYSTEMS = [
    RQSystem(
        name="rq",
        family="rq",
        label="RQ (forking Worker)",
        config="defaults: `rq worker` forks a work horse per job, INFO logging",
        tuned=False,
        guarantees=_guarantees(simple=False),
        bulk_api="Queue.enqueue_many (one pipeline per batch)",
        drain_scale=0.06,
        process_model=PROCESS_MODEL + ", each forking one work horse per job",
    ),
    RQSimple(
        name="rq-simple",
        family="rq",
        label="RQ (SimpleWorker)",
        config="`rq worker --worker-class rq.worker.SimpleWorker`: jobs run in the worker"
        " process itself, INFO logging",
        tuned=True,
        guarantees=_guarantees(simple=True),
        bulk_api="Queue.enqueue_many (one pipeline per batch)",
        drain_scale=0.3,
        process_model=PROCESS_MODEL,
    ),
]
