"""The actions the web API serves, as a table.

Each :class:`Action` holds what the rest of the web layer needs to know: its
parameters (validated and documented from the same declaration), whether it
changes state (POST only, full tokens only), the shape of its result, and the
function that runs it. Every job operation goes through
:mod:`conveyor.manage`, as the CLI's do, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conveyor import manage
from conveyor.backends.base import JobState
from conveyor.exceptions import ValidationError
from conveyor.web.schemas import (
    Boolean,
    Choice,
    Integer,
    JsonSchema,
    ListOf,
    Param,
    Text,
    ref,
)

MAX_QUEUES = 100
MAX_LIMIT = 100_000
MAX_OFFSET = 1_000_000_000
MAX_ID_LENGTH = 128
MAX_QUEUE_NAME = 200

QUEUES = Param(
    "queues",
    ListOf(Text(MAX_QUEUE_NAME), MAX_QUEUES),
    "Queue names, without the site prefix. Default: every queue of this site.",
)
STATES = Param(
    "states",
    ListOf(Choice(tuple(state.value for state in JobState), noun="state"), len(JobState)),
    "Job states to include. Default: queued.",
)
JOB_ID = Param("id", Text(MAX_ID_LENGTH), "The job's id.", required=True)
QUEUE = Param("queue", Text(MAX_QUEUE_NAME), "A queue name, without the site prefix.", True)
WORKER = Param(
    "worker", Text(MAX_ID_LENGTH), "A live worker's key, or its name if unique.", required=True
)


@dataclass(frozen=True)
class Action:
    """One action of ``/api/3/action/<name>``."""

    name: str
    summary: str
    description: str
    params: tuple[Param, ...]
    result: JsonSchema
    run: Callable[[dict[str, Any]], Any]
    changes_state: bool = False  # POST only, and only with a full token
    public: bool = False  # callable without a token
    finds_jobs: bool = False  # may answer 404 for an unknown job id (or worker)


def _job_list(values: dict[str, Any]) -> Any:
    return manage.job_list(
        queues=values.get("queues"),
        limit=values.get("limit"),
        ids_only=values.get("ids_only", False),
        states=values.get("states"),
        offset=values.get("offset", 0),
    )


def _job_count(values: dict[str, Any]) -> Any:
    return manage.job_count(queues=values.get("queues"), states=values.get("states"))


def _job_cancel(values: dict[str, Any]) -> None:
    manage.job_cancel(values["id"])


def _job_requeue(values: dict[str, Any]) -> Any:
    if values.get("all_failed"):
        if "id" in values:
            raise ValidationError({"id": ["Give either id or all_failed, not both"]})
        return manage.job_requeue_failed(values.get("queues"))
    if "queues" in values:
        raise ValidationError({"queues": ["Only used with all_failed"]})
    if "id" not in values:
        raise ValidationError({"id": ["Missing value"]})
    return manage.job_requeue(values["id"])


def _help_show(values: dict[str, Any]) -> str:
    return ACTIONS[values["name"]].description


_JOBS_OR_IDS = {
    "anyOf": [
        {"type": "array", "items": ref("Job")},
        {"type": "array", "items": {"type": "string"}},
    ]
}
_NAMES = {"type": "array", "items": {"type": "string"}}

_TABLE = (
    Action(
        name="job_list",
        summary="List jobs, in the order workers will run them.",
        description=(
            "List jobs of the given queues (default: all of this site's), the leftmost"
            " queue's first, in the order workers will run them. By default only queued"
            " jobs; `states` chooses others. `limit` caps the number returned (default"
            " conveyor.jobs.default_list_limit, 200) and `offset` skips that many first;"
            " job_count gives the total. Returns the jobs, or their ids with `ids_only`."
        ),
        params=(
            QUEUES,
            Param("limit", Integer(MAX_LIMIT), "How many jobs to return at most."),
            Param("ids_only", Boolean(), "Return only the job ids."),
            STATES,
            Param("offset", Integer(MAX_OFFSET), "How many matching jobs to skip first."),
        ),
        result=_JOBS_OR_IDS,
        run=_job_list,
    ),
    Action(
        name="job_count",
        summary="Count the jobs job_list would find without a limit.",
        description=(
            "The number of jobs of the given queues (default: all of this site's) in the"
            " given states (default: queued): the total for paging through job_list."
        ),
        params=(QUEUES, STATES),
        result={"type": "integer", "minimum": 0},
        run=_job_count,
    ),
    Action(
        name="job_show",
        summary="Show one job.",
        description=(
            "The job with the given id: the reference's id, title, created and queue,"
            " then its state, times, attempts, result and errors."
        ),
        params=(JOB_ID,),
        result=ref("Job"),
        run=lambda values: manage.job_show(values["id"]),
        finds_jobs=True,
    ),
    Action(
        name="job_cancel",
        summary="Cancel one job.",
        description=(
            "Cancel the job with the given id. A queued or scheduled job is removed; a"
            " running one is stopped and recorded as canceled. A finished, failed or"
            " canceled job cannot be canceled (409). Returns null."
        ),
        params=(JOB_ID,),
        result={"type": "null"},
        run=_job_cancel,
        changes_state=True,
        finds_jobs=True,
    ),
    Action(
        name="job_clear",
        summary="Cancel every queued job of some queues.",
        description=(
            "Remove every queued and scheduled job of the given queues (default: ALL of"
            " this site's queues). Running jobs are not affected. Returns the names of"
            " the queues cleared."
        ),
        params=(QUEUES,),
        result=_NAMES,
        run=lambda values: manage.job_clear(values.get("queues")),
        changes_state=True,
    ),
    Action(
        name="job_requeue",
        summary="Put a failed or canceled job back on its queue, or every failed job.",
        description=(
            "With `id`: put that failed or canceled job back at the end of its queue with"
            " a fresh attempt count, and return it. With `all_failed: true`: do so for"
            " every failed job of the given queues (default: all), and return their ids."
        ),
        params=(
            Param("id", Text(MAX_ID_LENGTH), "The job's id (not with all_failed)."),
            Param("all_failed", Boolean(), "Requeue every failed job of `queues`."),
            Param(QUEUES.name, QUEUES.kind, "With all_failed: the queues (default: all)."),
        ),
        result={"anyOf": [ref("Job"), _NAMES]},
        run=_job_requeue,
        changes_state=True,
        finds_jobs=True,
    ),
    Action(
        name="job_run_now",
        summary="Run a scheduled job now rather than at its time.",
        description=(
            "Put the scheduled job with the given id (enqueued for later, or a retry"
            " waiting out its delay) at the back of its queue at once, as when its time"
            " comes; it keeps its attempt count. Returns the job, now queued. A job in"
            " any other state is refused (409) and left alone."
        ),
        params=(JOB_ID,),
        result=ref("Job"),
        run=lambda values: manage.job_run_now(values["id"]),
        changes_state=True,
        finds_jobs=True,
    ),
    Action(
        name="queue_list",
        summary="List this site's queues with their job counts.",
        description="This site's queues, each with the number of its jobs in every state.",
        params=(),
        result={"type": "array", "items": ref("Queue")},
        run=lambda values: manage.queue_list(),
    ),
    Action(
        name="worker_list",
        summary="List the live workers of this site.",
        description=(
            "The live workers serving this site's queues: where they run, their queues,"
            " state, heartbeat, the jobs they are running and how many they finished and"
            " failed."
        ),
        params=(),
        result={"type": "array", "items": ref("Worker")},
        run=lambda values: manage.worker_list(),
    ),
    Action(
        name="queue_pause",
        summary="Pause a queue: no worker claims its jobs.",
        description=(
            "Stop every worker claiming jobs from the queue named `queue`. Its queued and"
            " scheduled jobs stay and running ones finish; workers notice within a"
            " heartbeat (two seconds at most). Returns true, or false if it was paused"
            " already."
        ),
        params=(QUEUE,),
        result={"type": "boolean"},
        run=lambda values: manage.queue_pause(values["queue"]),
        changes_state=True,
    ),
    Action(
        name="queue_resume",
        summary="Resume a paused queue.",
        description=(
            "Let workers claim jobs from the paused queue named `queue` again (within two"
            " seconds). Returns true, or false if it was not paused."
        ),
        params=(QUEUE,),
        result={"type": "boolean"},
        run=lambda values: manage.queue_resume(values["queue"]),
        changes_state=True,
    ),
    Action(
        name="worker_quiet",
        summary="Tell a worker to claim no more jobs.",
        description=(
            "Tell the live worker whose key (or else name) is `worker` to claim no more"
            " jobs: it finishes the ones it runs and stays registered, in state quiet."
            " Returns the worker as it was listed; 404 if no live worker matches."
        ),
        params=(WORKER,),
        result=ref("Worker"),
        run=lambda values: manage.worker_quiet(values["worker"]),
        changes_state=True,
        finds_jobs=True,
    ),
    Action(
        name="worker_stop",
        summary="Tell a worker to shut down gracefully.",
        description=(
            "Tell the live worker whose key (or else name) is `worker` to shut down as on"
            " SIGTERM: it claims no more jobs, finishes the ones it runs, and exits."
            " Returns the worker as it was listed; 404 if no live worker matches."
        ),
        params=(WORKER,),
        result=ref("Worker"),
        run=lambda values: manage.worker_stop(values["worker"]),
        changes_state=True,
        finds_jobs=True,
    ),
)

ACTIONS: dict[str, Action] = {action.name: action for action in _TABLE}
ACTIONS["help_show"] = Action(
    name="help_show",
    summary="Describe an action.",
    description="The description of the action named `name`. Needs no token.",
    params=(
        Param("name", Choice((*ACTIONS, "help_show"), noun="action"), "An action name.", True),
    ),
    result={"type": "string"},
    run=_help_show,
    public=True,
)
