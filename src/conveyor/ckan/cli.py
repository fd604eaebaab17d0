"""``ckan conveyor ...``: conveyor's own commands, reachable from CKAN's CLI.

``ckan jobs ...`` stays CKAN's own command, running on conveyor through the
plugin. ``ckan conveyor jobs ...`` adds conveyor's commands (requeue,
workers, queues, a worker with conveyor's options, show with the full
record), ``ckan conveyor move-rq-jobs`` moves jobs left in RQ, and any
other top-level command conveyor has (``info``, ``periodic``) is added as
it is.
"""

from __future__ import annotations

from typing import Any

import click
from ckan.common import config as ckan_config

from conveyor.ckan import jobs as ckan_jobs
from conveyor.ckan import settings
from conveyor.cli import ConveyorGroup
from conveyor.cli import main as conveyor_main
from conveyor.cli.jobs import jobs as conveyor_jobs

#: conveyor's top-level commands that make no sense inside CKAN.
_NOT_HERE = {"jobs", "deploy", "serve", "token"}


@click.group(name="conveyor", cls=ConveyorGroup, short_help="conveyor's own job commands.")
def conveyor_group() -> None:
    """conveyor's own commands, configured from this site's ini."""
    ckan_jobs.install()
    settings.sync(ckan_config)


@conveyor_group.group(name="jobs", cls=ConveyorGroup, short_help="Manage background jobs.")
def jobs_group() -> None:
    """conveyor's job commands (conveyor's output, the full job record)."""


@jobs_group.command(short_help="Start a worker that runs CKAN jobs.")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--max-idle-time", type=click.IntRange(min=0), default=None)
@click.option("-n", "--concurrency", type=click.IntRange(min=1), default=None)
@click.option(
    "--isolation",
    type=click.Choice(["child", "job"]),
    default="job",
    show_default=True,
    help="'job': a fresh process per job, as CKAN's RQ worker; 'child': reused processes.",
)
@click.argument("queues", nargs=-1)
def worker(
    burst: bool,
    max_idle_time: int | None,
    concurrency: int | None,
    isolation: str,
    queues: tuple[str, ...],
) -> None:
    """Start a worker with CKAN's environment in every job process."""
    from conveyor.ckan.worker import CkanWorker  # noqa: PLC0415

    CkanWorker(list(queues) or None, concurrency=concurrency, isolation=isolation).work(
        burst=burst, max_idle_time=max_idle_time
    )


for _name, _command in conveyor_jobs.commands.items():
    if _name != "worker":
        jobs_group.add_command(_command, _name)
for _name, _command in conveyor_main.commands.items():
    if _name not in _NOT_HERE:
        conveyor_group.add_command(_command, _name)


def _redis() -> Any:
    from ckan.lib.redis import connect_to_redis  # noqa: PLC0415

    return connect_to_redis()


@conveyor_group.command("move-rq-jobs", short_help="Move jobs waiting in RQ into conveyor.")
def move_rq_jobs() -> None:
    """Move the jobs waiting in this site's RQ queues into conveyor.

    Each job keeps its id, title, queue, function, arguments and timeout; it
    leaves RQ once conveyor holds it. Jobs that cannot be moved stay in RQ
    and are listed with the reason. Running the command again moves nothing
    twice. RQ's payloads are unpickled here, in this site's environment, as
    the site's RQ workers would have done.
    """
    from conveyor.ckan.rqmove import Moved, move_rq_jobs  # noqa: PLC0415

    def line(job: Moved) -> None:
        title = f' ("{job.title}")' if job.title else ""
        if job.outcome == "moved":
            click.echo(f'Moved job {job.id}{title} to queue "{job.queue}"')
        elif job.outcome == "already":
            click.echo(f"Job {job.id}{title} was already in conveyor; removed from RQ")
        else:
            click.secho(f"Could not move job {job.id}{title}: {job.reason}", fg="red", err=True)

    prefix = f"ckan:{ckan_config['ckan.site_id']}:"
    report = move_rq_jobs(_redis(), prefix, on_job=line)
    moved, already, failed = (report.count(o) for o in ("moved", "already", "failed"))
    for queue, count in sorted(report.not_waiting.items()):
        click.echo(f'{count} scheduled or deferred job(s) of queue "{queue}" stay in RQ')
    click.echo(f"{moved} moved, {already} already moved, {failed} left in RQ")
    if failed:
        raise SystemExit(1)
