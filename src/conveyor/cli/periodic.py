"""``conveyor periodic ...``: list periodic jobs, run one now, disable and enable them."""

from __future__ import annotations

import json
from typing import Any

import click

import conveyor
from conveyor.cli.info import reads_store
from conveyor.cli.text import escape
from conveyor.worker.supervisor import add_to_sys_path, import_dirs


@click.group(short_help="List, disable and enable periodic jobs.")
def periodic() -> None:
    """List, disable and enable periodic jobs.

    Periodic jobs are declared in code (``@conveyor.periodic``) or in the
    config file (``[conveyor:periodic:NAME]`` sections); workers enqueue
    them at their ticks. Whether one is enabled is kept in the job store, so
    disabling it holds for every worker.
    """
    # The modules of conveyor.periodic.modules import from where a worker's would.
    add_to_sys_path(import_dirs((), conveyor.config.current()))


def _line(job: dict[str, Any]) -> str:
    state = "enabled" if job["enabled"] else "disabled"
    last = job["last_enqueued"] or "never"
    if job["last_job_id"]:
        last += f" (job {job['last_job_id']})"
    return (
        f'{job["name"]} {state} "{job["schedule"]}" queue "{job["queue"]}"'
        f" next {job['next_run'] or '-'} last {last}"
    )


@periodic.command("list", short_help="List periodic jobs.")
@click.option("--json", "as_json", is_flag=True, help="Print the periodic jobs as JSON.")
@reads_store
def list_periodic(as_json: bool) -> None:
    """List this site's periodic jobs.

    One line per job: its name, enabled or disabled, its schedule, its
    queue, the next run (UTC) and when the last tick's job was enqueued
    (UTC), with that job's id. Jobs declared in code are listed once a worker
    that imports them has started, or when ``conveyor.periodic.modules``
    names their module. Like ``jobs list``, it never creates a store.
    """
    found = conveyor.periodic_list()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.secho("There are no periodic jobs.", fg="green")
        return
    for job in found:
        click.echo(escape(_line(job)))


@periodic.command(short_help="Stop enqueueing a periodic job.")
@click.argument("name")
def disable(name: str) -> None:
    """Stop enqueueing the periodic job NAME, on every worker, until it is enabled."""
    conveyor.periodic_disable(name)
    click.secho(f"Disabled periodic job {name}", fg="green")


@periodic.command(short_help="Enqueue a disabled periodic job again.")
@click.argument("name")
def enable(name: str) -> None:
    """Enqueue the periodic job NAME again, from its next tick.

    Ticks that passed while it was disabled are not run.
    """
    conveyor.periodic_enable(name)
    click.secho(f"Enabled periodic job {name}", fg="green")


@periodic.command(short_help="Enqueue one run of a periodic job now.")
@click.argument("name")
def run(name: str) -> None:
    """Enqueue one run of the periodic job NAME now, leaving its schedule alone.

    The job is the one its next tick would enqueue; that tick still runs at
    its time. A disabled job can be run this way too.
    """
    job = conveyor.periodic_run(name)
    click.secho(
        f'Enqueued periodic job {name} now as job {job.id} on queue "{job.queue}"', fg="green"
    )


@periodic.command(short_help="Delete a periodic job's stored entry.")
@click.argument("name")
@reads_store
def forget(name: str) -> None:
    """Delete the stored entry of the periodic job NAME (its jobs stay).

    For a job no longer declared anywhere; a worker that still declares it
    creates its entry again when it starts.
    """
    conveyor.periodic_forget(name)
    click.secho(f"Forgot periodic job {name}", fg="green")
