"""What conveyor on SQLite and conveyor on Redis share: the producer and the worker command."""

from __future__ import annotations

from typing import Any

import jobs

from systems import Context, Guarantees, System

SITE_ID = "bench"

GUARANTEES = Guarantees(
    delivery="at-least-once",
    ack="the outcome is recorded after the job ran (the claim holds a lease, extended while it"
    " runs)",
    crash="a job whose worker process or machine died is found by its expired lease and run"
    " again (up to max_attempts = 3), never left started",
    timeout="hard: the supervisor kills the child process at the job timeout (default 180 s)"
    " and records the job as failed",
    retries="a job that raised is recorded failed with its traceback (retries on request)",
    record="every job's record (state, attempts, result or traceback) is kept until its"
    " retention ends",
    hoarding="none: up to 128 jobs are claimed ahead only while jobs are quick (about 50 ms of"
    " work per child), none while a running job outlasts 0.25 s, and jobs held longer than"
    " 0.25 s go back to the queue",
)


class ConveyorSystem(System):
    """conveyor with one backend, in its default configuration."""

    def backend_url(self, ctx: Context) -> str:
        raise NotImplementedError

    def open(self, ctx: Context) -> None:
        super().open(ctx)
        import conveyor
        from conveyor import config

        self.url = self.backend_url(ctx)
        self._conveyor = conveyor
        # The defaults plus the backend, whatever CONVEYOR_* variables this shell has.
        settings = {"conveyor.backend": self.url, "conveyor.site_id": SITE_ID}
        self.config = config.with_settings(config.Config(base_dir=ctx.workdir), settings)

    def reset(self) -> None:
        """Close the backend, and make this system's configuration the process's.

        The harness calls it before every phase: conveyor's configuration is
        process-wide, and conveyor on SQLite and on Redis share the process.
        """
        from conveyor import config
        from conveyor.backends import close_shared

        close_shared()
        config.install(self.config)

    def warm(self) -> None:
        """Open the producer's connection now, outside any timing.

        Every peer's producer holds its client (and connection) from open() on,
        across phases; conveyor's reset() closes the process's backend, so
        without this the first timed call would pay for connecting (and, on
        PostgreSQL, the schema check): 10-20 ms, half of a 1,000-job bulk call.
        """
        from conveyor.api import backend

        backend(self.config).queue_names(self.config.queue_prefix)

    def close(self) -> None:
        from conveyor import config
        from conveyor.backends import close_shared

        close_shared()
        config.install(None)

    def enqueue_incr(self) -> None:
        self._conveyor.enqueue(jobs.incr)

    def enqueue_incr_many(self, count: int) -> None:
        calls: list[dict[str, Any]] = [{"fn": jobs.incr}] * count
        self._conveyor.enqueue_many(calls)

    def enqueue_stamp(self) -> None:
        self._conveyor.enqueue(jobs.stamp)

    def worker_commands(self, processes: int) -> list[list[str]]:
        conveyor = str(self.ctx.bin_dir / "conveyor")
        return [[conveyor, "jobs", "worker", "--concurrency", str(processes)]]

    def worker_env(self) -> dict[str, str]:
        return {"CONVEYOR_BACKEND": self.url, "CONVEYOR_SITE_ID": SITE_ID}


def make(
    cls: type[ConveyorSystem], name: str, label: str, config: str, store: str
) -> ConveyorSystem:
    return cls(
        store=store,
        name=name,
        family=name.replace("-", "_"),
        label=label,
        config=config,
        tuned=False,
        guarantees=GUARANTEES,
        bulk_api="conveyor.enqueue_many (one transaction per batch)",
        process_model="one `conveyor jobs worker --concurrency N`: a supervisor that claims"
        " and records, and N child processes that run the jobs",
    )
