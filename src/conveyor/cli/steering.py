"""``conveyor jobs pause|resume|quiet|stop``: steering queues and workers.

Each is one call of the functions in :mod:`conveyor.manage`; the workers
learn of the change at their next heartbeat (within two seconds).
"""

from __future__ import annotations

import click

from conveyor import manage
from conveyor.cli.info import reads_store
from conveyor.cli.text import escape


@click.command(short_help="Pause queues: no worker claims their jobs.")
@click.argument("queues", nargs=-1, required=True)
@reads_store
def pause(queues: tuple[str, ...]) -> None:
    """Stop every worker claiming jobs from the given queues.

    Their queued and scheduled jobs stay; running jobs finish. Workers
    notice within a heartbeat (two seconds at most). `conveyor jobs resume`
    undoes it; `conveyor jobs queues` marks the paused queues.
    """
    manage.check_queue_names(list(queues))  # all or none
    for name in queues:
        if manage.queue_pause(name):
            click.secho(f'Paused queue "{escape(name)}"', fg="green")
        else:
            click.secho(f'Queue "{escape(name)}" was paused already', fg="yellow")


@click.command(short_help="Resume paused queues.")
@click.argument("queues", nargs=-1, required=True)
@reads_store
def resume(queues: tuple[str, ...]) -> None:
    """Let workers claim jobs from the given paused queues again (within two seconds)."""
    manage.check_queue_names(list(queues))  # all or none
    for name in queues:
        if manage.queue_resume(name):
            click.secho(f'Resumed queue "{escape(name)}"', fg="green")
        else:
            click.secho(f'Queue "{escape(name)}" was not paused', fg="yellow")


@click.command(short_help="Tell a worker to claim no more jobs.")
@click.argument("worker")
@reads_store
def quiet(worker: str) -> None:
    """Tell a live worker (by key, or by name as `conveyor jobs workers` shows it) to claim no
    more jobs. It finishes the jobs it is running and stays registered, in state "quiet",
    until it is stopped (`conveyor jobs stop`, or a signal)."""
    found = manage.worker_quiet(worker)
    click.secho(f"Asked worker {escape(found['name'])} to claim no more jobs", fg="green")


@click.command(short_help="Tell a worker to shut down gracefully.")
@click.argument("worker")
@reads_store
def stop(worker: str) -> None:
    """Tell a live worker (by key, or by name) to shut down as on SIGTERM: it claims no more
    jobs, finishes the ones it is running, and exits."""
    found = manage.worker_stop(worker)
    click.secho(f"Asked worker {escape(found['name'])} to stop", fg="green")
