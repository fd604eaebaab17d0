"""The dashboard's actions: each runs conveyor.manage's function, as the API and CLI do.

An action takes the posted form and returns a one-line notice for the page.
Actions on jobs take one or more ``ids`` (the selected rows). Pausing queues
and quieting or stopping workers use ``conveyor.manage``'s functions for
them when this conveyor has them, and otherwise say they are not available.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conveyor import manage
from conveyor.exceptions import ConveyorError, NoSuchJobError, ValidationError
from conveyor.job import Job
from conveyor.periodic_jobs.manage import (
    periodic_disable,
    periodic_enable,
    periodic_list,
    periodic_run,
)

MAX_SELECTED = 500


class NotAvailable(ConveyorError):
    """This conveyor lacks what an action needs (e.g. pausing queues)."""


def _ids(form: Any) -> list[str]:
    ids = [value for value in form.getlist("ids") if value]
    if not ids:
        raise ValidationError({"ids": ["Select at least one job"]})
    if len(ids) > MAX_SELECTED:
        raise ValidationError({"ids": [f"Select at most {MAX_SELECTED} jobs at a time"]})
    return ids


def _each(form: Any, verb: str, run: Callable[[str], object]) -> str:
    done, problems = 0, []
    for job_id in _ids(form):
        try:
            run(job_id)
            done += 1
        except ConveyorError as exc:
            problems.append(str(exc))
    text = f"{verb} {done} job{'s' if done != 1 else ''}"
    return f"{text}; {len(problems)} not: {problems[0]}" if problems else text


def _delete(job_id: str) -> None:
    manage.job_show(job_id)  # NoSuchJobError unless it is this site's job
    Job.fetch(job_id).delete()


def _field(form: Any, name: str) -> str:
    value = str(form.get(name, "")).strip()
    if not value:
        raise ValidationError({name: ["Missing value"]})
    return value


def _manage(name: str) -> Callable[..., Any]:
    fn = getattr(manage, name, None)
    if fn is None:
        raise NotAvailable(f"{name} is not available in this conveyor version")
    return fn  # type: ignore[no-any-return]


def _clear(form: Any) -> str:
    queue = _field(form, "queue")
    removed = manage.clear_queues([queue]).get(queue, 0)
    return f"Cleared queue {queue}: {removed} jobs deleted"


def _queue_call(name: str, verb: str) -> Callable[[Any], str]:
    def run(form: Any) -> str:
        queue = _field(form, "queue")
        _manage(name)(queue)
        return f"{verb} queue {queue}"

    return run


def _worker_call(name: str, verb: str) -> Callable[[Any], str]:
    def run(form: Any) -> str:
        worker = _field(form, "worker")
        _manage(name)(worker)
        return f"{verb} worker {worker}"

    return run


def _periodic_entry(form: Any) -> dict[str, Any]:
    name = _field(form, "name")
    for entry in periodic_list():
        if entry["name"] == name:
            return entry
    raise NoSuchJobError(name)


def _periodic_run(form: Any) -> str:
    # One run now, as its next tick would enqueue it; the schedule is not moved.
    name = _periodic_entry(form)["name"]
    job = periodic_run(name)
    return f"Enqueued {name} now as job {job.id}"


def _periodic_toggle(enable: bool) -> Callable[[Any], str]:
    def run(form: Any) -> str:
        name = _periodic_entry(form)["name"]
        (periodic_enable if enable else periodic_disable)(name)
        return f"{'Enabled' if enable else 'Disabled'} periodic job {name}"

    return run


ACTIONS: dict[str, Callable[[Any], str]] = {
    "cancel": lambda form: _each(form, "Canceled", manage.job_cancel),
    "requeue": lambda form: _each(form, "Requeued", manage.job_requeue),
    "run_now": lambda form: _each(form, "Made due now", manage.job_run_now),
    "delete": lambda form: _each(form, "Deleted", _delete),
    "clear_queue": _clear,
    "pause_queue": _queue_call("queue_pause", "Paused"),
    "resume_queue": _queue_call("queue_resume", "Resumed"),
    "quiet_worker": _worker_call("worker_quiet", "Quieted"),
    "stop_worker": _worker_call("worker_stop", "Asked to stop"),
    "periodic_run": _periodic_run,
    "periodic_enable": _periodic_toggle(True),
    "periodic_disable": _periodic_toggle(False),
}


def run_action(name: str, form: Any) -> str:
    """Run action ``name`` with the posted ``form``; the notice to show."""
    return ACTIONS[name](form)
