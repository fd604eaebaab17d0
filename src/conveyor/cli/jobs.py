"""``conveyor jobs ...``: the reference's job commands."""

from __future__ import annotations

import importlib
import json
from typing import Any

import click

import conveyor
from conveyor import limits, manage
from conveyor.backends import JobState
from conveyor.cli import steering
from conveyor.cli.info import info as info_command
from conveyor.cli.info import reads_store, require_store
from conveyor.cli.logs import LOG_FORMATS, configure_logging
from conveyor.cli.text import escape, escape_lines

STATES = [state.value for state in JobState]
LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


@click.group(short_help="Manage background jobs.")
def jobs() -> None:
    """Manage background jobs."""


@jobs.command(short_help="Start a worker.")
@click.option(
    "--burst",
    is_flag=True,
    help="Run the jobs that are due, then exit (status 0) once the queues have none left"
    " and no job is running. Jobs scheduled for later (retries included) are not waited for.",
)
@click.option(
    "--max-idle-time",
    type=click.IntRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Exit (status 0) once the worker has been idle this long: no job running and none"
    " claimed, counted from the end of its last job (or its start). Default: never.",
)
@click.option(
    "-n",
    "--concurrency",
    type=click.IntRange(1, conveyor.config.MAX_CONCURRENCY),
    default=None,
    help="Child processes running jobs at once. Default: conveyor.worker.concurrency (1).",
)
@click.option(
    "--isolation",
    type=click.Choice(["child", "job"]),
    default="child",
    show_default=True,
    help="'job' runs every job in a fresh process (as RQ does); 'child' reuses processes.",
)
@click.option(
    "-P",
    "--path",
    "paths",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="A directory to import job functions from (repeatable), searched before"
    " conveyor.worker.path and the directory the worker is started in.",
)
@click.option(
    "--name",
    default=None,
    help="How log lines name this worker. Default: conveyor.worker.name, else HOST.PID.",
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default=None,
    help="Lowest level of log records shown. Default: conveyor.worker.log_level (INFO).",
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS, case_sensitive=False),
    default=None,
    help="'json' writes one JSON object a line, with job_id, queue, attempt, duration and"
    " worker as fields. Default: conveyor.log_format (text).",
)
@click.option(
    "--with-scheduler/--no-scheduler",
    "with_scheduler",
    default=True,
    help="Accepted for CKAN compatibility; conveyor workers always queue scheduled jobs"
    " when they are due.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve this worker's Prometheus metrics on 127.0.0.1:PORT/metrics"
    " (needs the metrics extra).",
)
@click.argument("queues", nargs=-1)
def worker(
    burst: bool,
    max_idle_time: int | None,
    concurrency: int | None,
    isolation: str,
    paths: tuple[str, ...],
    name: str | None,
    log_level: str | None,
    log_format: str | None,
    with_scheduler: bool,
    metrics_port: int | None,
    queues: tuple[str, ...],
) -> None:
    """Start a worker that fetches jobs from queues and executes them.

    If no queue names are given then the worker listens to the default queue,
    this is equivalent to

        conveyor jobs worker default

    If queue names are given then the worker listens to those queues and only
    those:

        conveyor jobs worker my-custom-queue

    Hence, if you want the worker to listen to the default queue and some
    others then you must list the default queue explicitly:

        conveyor jobs worker default my-custom-queue

    Job functions are imported from the directory the worker is started in,
    as RQ does, and from --path and conveyor.worker.path.

    Once a worker is running it waits for jobs. SIGINT (Ctrl+C) or SIGTERM
    lets running jobs finish and then stops; a second signal stops at once
    and puts the interrupted jobs back on their queues.
    """
    del with_scheduler  # every worker promotes due scheduled jobs: no scheduler to switch
    config = conveyor.config.current()
    configure_logging(log_level or config.worker_log_level, log_format or config.log_format)
    runner = conveyor.Worker(
        list(queues), concurrency=concurrency, isolation=isolation, name=name, paths=paths
    )
    if metrics_port is not None:
        try:
            metrics = importlib.import_module("conveyor.metrics")  # the optional extra
        except ImportError as exc:
            raise click.UsageError(str(exc)) from None
        runner.metrics = metrics.WorkerMetrics()
        metrics.serve_worker_metrics(runner.metrics, metrics_port)
    runner.work(burst=burst, max_idle_time=max_idle_time)


def _list_line(job: dict[str, Any], with_state: bool) -> str:
    fields = [job["created"], job["id"], job["queue"]]
    if with_state:
        fields.append(job["state"])
    if job["state"] == "scheduled" and job["scheduled_for"] is not None:
        fields.append(f"due {job['scheduled_for']}")
    if job["title"] is not None:
        fields.append(f'"{escape(job["title"])}"')
    return " ".join(fields)


@jobs.command("list", short_help="List jobs.")
@click.option(
    "-l",
    "--limit",
    type=click.IntRange(0, limits.MAX_LIST_LIMIT),
    default=None,
    help="Most jobs to print. Default: 200 (conveyor.jobs.default_list_limit).",
)
@click.option("-i", "--ids", is_flag=True, help="Print only the job ids, one per line.")
@click.option(
    "-s",
    "--state",
    "states",
    type=click.Choice(STATES),
    multiple=True,
    help="Show jobs in this state (repeatable). Default: queued.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the jobs as a JSON list.")
@click.argument("queues", nargs=-1)
@reads_store
def list_jobs(
    limit: int | None, ids: bool, states: tuple[str, ...], as_json: bool, queues: tuple[str, ...]
) -> None:
    """List jobs.

    Lists the queued jobs (or, with --state, the jobs in those states) of
    all queues of this site, or only of the given queues, in the order in
    which workers will run them. One line per job: created (UTC), id, queue,
    the state if --state was given, the due time (UTC) of a scheduled job,
    and the title in double quotes if the job has one (control characters
    shown escaped, as \\x1b or \\n).
    """
    found = conveyor.job_list(
        queues=list(queues) or None, limit=limit, ids_only=ids, states=list(states) or None
    )
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        if not states or list(states) == ["queued"]:
            click.secho("There are no pending jobs.", fg="green")
        else:
            click.secho(f"There are no {' or '.join(states)} jobs.", fg="green")
        return
    with_state = bool(states) and list(states) != ["queued"]
    for job in found:
        click.echo(job if ids else _list_line(job, with_state))


def _attempt_lines(history: list[dict[str, Any]]) -> list[str]:
    """One line per attempt: number, outcome, start and end, and its error."""
    lines = []
    for entry in history:
        line = f"  #{entry['attempt']} {entry['outcome']}"
        if entry["started"] or entry["ended"]:
            line += f", {entry['started'] or '?'} to {entry['ended'] or 'now'}"
        if entry["error"] is not None:
            line += f": {escape(entry['error']['type'])}: {escape(entry['error']['message'])}"
        lines.append(line)
    return lines


def _show_lines(job: dict[str, Any]) -> list[str]:
    title = f'"{escape(job["title"])}"' if job["title"] is not None else "None"
    lines = [
        f"ID:      {job['id']}",
        f"Title:   {title}",
        f"Created: {job['created']}",
        f"Queue:   {job['queue']}",
        f"State:   {job['state']}",
        f"Func:    {escape(job['func'])}",
        f"Args:    {json.dumps(job['args'])}",
        f"Kwargs:  {json.dumps(job['kwargs'])}",
        f"Timeout: {job['timeout']}",
        f"Attempts: {job['attempts']} (of at most {job['max_attempts']})",
        *_attempt_lines(job["history"]),
    ]
    if job["state"] == "scheduled" and job["scheduled_for"] is not None:
        lines.append(f"Due:     {job['scheduled_for']}")
    for label, key in (("Started", "started"), ("Ended", "ended")):
        if job[key] is not None:
            lines.append(f"{label + ':':<9}{job[key]}")
    if job["duration"] is not None:
        lines.append(f"Runtime: {job['duration']:.3f}s")
    if job["worker"]:
        lines.append(f"Worker:  {escape(job['worker'])}")
    lines.extend(_meta_lines(job))
    if job["state"] == "finished" and job["result"] is not None:
        lines.append(f"Result:  {json.dumps(job['result'])}")
    error = job["error"]  # the current one: none once the job finished
    if error is not None:
        label = "Error:" if job["state"] == "failed" else "Last error:"
        lines.append(f"{label:<8} {escape(error['type'])}: {escape(error['message'])}")
        if error["traceback"]:
            lines.extend("  " + line for line in escape_lines(error["traceback"].rstrip()))
    return lines


def _meta_lines(job: dict[str, Any]) -> list[str]:
    """The job's progress (``set_progress()``) and meta, as JSON, control characters escaped."""
    lines = []
    progress = job.get("progress")
    if isinstance(progress, dict) and isinstance(progress.get("fraction"), int | float):
        text = f"Progress: {progress['fraction']:.0%}"
        if progress.get("message") is not None:
            text += " " + escape(json.dumps(progress["message"], ensure_ascii=False))
        lines.append(text)
    if job.get("meta"):
        lines.append(f"Meta:    {escape(json.dumps(job['meta'], ensure_ascii=False))}")
    return lines


@jobs.command(short_help="Show details about a specific job.")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
@click.argument("id")
@reads_store
def show(as_json: bool, id: str) -> None:
    """Show details about a specific job.

    The first four lines are the reference's (ID, Title, Created, Queue);
    conveyor adds the state, times, attempts and, for a failed job, its error.
    """
    job = conveyor.job_show(id)
    if as_json:
        click.echo(json.dumps(job, indent=2))
        return
    for line in _show_lines(job):
        click.echo(line)


@jobs.command(short_help="Cancel a specific job.")
@click.argument("id")
@reads_store
def cancel(id: str) -> None:
    """Cancel a specific job.

    A queued job is removed from its queue. A running job is stopped (its
    process is killed) and recorded as canceled. Finished and failed jobs
    cannot be canceled.
    """
    conveyor.job_cancel(id)
    click.secho(f"Cancelled job {id}", fg="green")


@jobs.command("run-now", short_help="Run a scheduled job now, not at its time.")
@click.argument("id")
@reads_store
def run_now(id: str) -> None:
    """Run a scheduled job now rather than at its time.

    The job (enqueued for later, or a retry waiting out its delay) goes to
    the back of its queue at once, as when its time comes, and keeps its
    attempt count. A job in any other state is refused and left alone.
    """
    job = conveyor.job_run_now(id)
    click.secho(f'Job {job["id"]} is due now, on queue "{job["queue"]}"', fg="green")


@jobs.command(short_help="Delete the waiting jobs of queues.")
@click.argument("queues", nargs=-1)
@reads_store
def clear(queues: tuple[str, ...]) -> None:
    """Delete every waiting (queued or scheduled) job of the given queues.

    If no queue names are given then the waiting jobs of ALL queues of this
    site are deleted. Running jobs and the records of finished, failed and
    canceled jobs are kept. Prints how many jobs were deleted from each queue,
    and names the given queues that had none.
    """
    cleared = manage.clear_queues(list(queues) or None)
    if not cleared:
        click.secho("There are no queues to clear.", fg="green")
        return
    for name, count in cleared.items():
        if count:
            noun = "job" if count == 1 else "jobs"
            click.secho(f'Deleted {count} waiting {noun} from queue "{name}"', fg="green")
        elif queues:
            click.secho(f'Queue "{name}" had no waiting jobs', fg="yellow")
    if not queues and not any(cleared.values()):
        click.secho("There were no waiting jobs to delete.", fg="green")


@jobs.command(short_help="Enqueue a test job.")
@click.argument("queues", nargs=-1)
def test(queues: tuple[str, ...]) -> None:
    """Enqueue a test job.

    If no queue names are given then the job is added to the default queue.
    If queue names are given then a separate test job is added to each of the
    queues. A worker prints ('A test job',) on its standard output when it
    runs one.
    """
    for queue in queues or (conveyor.DEFAULT_QUEUE_NAME,):
        job = conveyor.enqueue(conveyor.test_job, ["A test job"], title="A test job", queue=queue)
        click.secho(f'Added test job {job.id} to queue "{queue}"', fg="green")


@jobs.command(short_help="Put a failed or canceled job, or all failed ones, back.")
@click.option(
    "--all-failed", is_flag=True, help="Requeue every failed job (of the given queues, or all)."
)
@click.argument("args", nargs=-1, metavar="ID | [--all-failed] [QUEUES...]")
def requeue(all_failed: bool, args: tuple[str, ...]) -> None:
    """Put a failed or canceled job back on its queue, or every failed job.

        conveyor jobs requeue ID

        conveyor jobs requeue --all-failed [QUEUES...]

    A requeued job starts again with a fresh attempt count; the errors of its
    earlier attempts stay in its record.
    """
    if not all_failed and len(args) != 1:
        raise click.UsageError("Give one job ID, or --all-failed [QUEUES...]")
    require_store()
    if all_failed:
        moved = conveyor.job_requeue_failed(list(args) or None)
        if not moved:
            click.secho("There are no failed jobs.", fg="green")
        for job_id in moved:
            click.secho(f"Requeued job {job_id}", fg="green")
        return
    job = conveyor.job_requeue(args[0])
    click.secho(f'Requeued job {job["id"]} to queue "{job["queue"]}"', fg="green")


@jobs.command(short_help="List live workers.")
@click.option("--json", "as_json", is_flag=True, help="Print the workers as JSON.")
@reads_store
def workers(as_json: bool) -> None:
    """List the live workers of this site.

    One line per worker: its name (as its log lines give it), state (busy,
    idle, quiet or stopping), the queues it listens on, when it started, its counts
    since then (jobs finished, jobs failed for good, attempts that failed and
    were retried), its host and pid, and its key (as job records give it);
    then the jobs it is running. A worker that stopped
    beating (killed, machine lost) disappears once its heartbeat expires.
    """
    found = conveyor.worker_list()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.secho("There are no live workers.", fg="green")
        return
    for info in found:
        queues = ", ".join(f'"{q}"' for q in info["queues"])
        click.echo(
            f"{escape(info['name'])} {info['state']} queues {queues} started {info['started']};"
            f" jobs finished {info['finished']}, jobs failed {info['failed']},"
            f" attempts retried {info['retried']};"
            f" {escape(info['host'])}:{info['pid']} {escape(info['key'])}"
        )
        for job_id in info["jobs"]:
            click.echo(f"    running {job_id}")


@jobs.command(short_help="List queues with their job counts.")
@click.option("--json", "as_json", is_flag=True, help="Print the queues as JSON.")
@reads_store
def queues(as_json: bool) -> None:
    """List this site's queues with the number of jobs in each state.

    A queue is listed while it holds any job record (waiting, running, or
    kept after it ended), or while it is paused (marked "(paused)").
    """
    found = conveyor.queue_list()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.secho("There are no queues.", fg="green")
        return
    for queue in found:
        counts = " ".join(f"{state}={queue[state]}" for state in STATES)
        mark = " (paused)" if queue["paused"] else ""
        click.echo(f"{queue['name']}{mark} {counts}")


jobs.add_command(info_command)
for _command in (steering.pause, steering.resume, steering.quiet, steering.stop):
    jobs.add_command(_command)
