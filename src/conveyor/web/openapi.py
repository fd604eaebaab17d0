"""The OpenAPI 3.1 document, generated from the action table.

Nothing here is written by hand twice: the parameters come from each
action's :class:`~conveyor.web.schemas.Param` declarations, the very ones
that validate requests, and the results from each action's result schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conveyor.__about__ import __version__
from conveyor.backends.base import JobState
from conveyor.web.actions import ACTIONS, Action
from conveyor.web.schemas import JsonSchema, body_schema, form_schema, ref

_TEXT = {"type": "string"}
_MAYBE_TEXT = {"type": ["string", "null"]}
_TIME = {"type": ["string", "null"], "description": "UTC, YYYY-mm-ddTHH:MM:SS"}
_COUNT = {"type": "integer", "minimum": 0}
_STATES = [state.value for state in JobState]


def _record(
    properties: dict[str, JsonSchema], description: str, optional: tuple[str, ...] = ()
) -> JsonSchema:
    return {
        "type": "object",
        "description": description,
        "required": [name for name in properties if name not in optional],
        "properties": properties,
    }


COMPONENTS: dict[str, JsonSchema] = {
    "Job": _record(
        {
            "id": _TEXT,
            "title": _MAYBE_TEXT,
            "created": {**_TEXT, "description": "UTC, YYYY-mm-ddTHH:MM:SS"},
            "queue": _TEXT,
            "state": {"type": "string", "enum": _STATES},
            "func": {**_TEXT, "description": "The job function, module:qualname"},
            "args": {"description": "Positional arguments (their repr if not JSON data)"},
            "kwargs": {"description": "Keyword arguments (their repr if not JSON data)"},
            "description": _MAYBE_TEXT,
            "meta": {"description": "User metadata"},
            "progress": {
                "description": "meta.progress as the job reported it: {fraction, message}, or null"
            },
            "timeout": {"type": "integer", "description": "Seconds; -1 for no limit"},
            "enqueued": _TIME,
            "scheduled_for": _TIME,
            "started": _TIME,
            "ended": _TIME,
            "duration": {"type": ["number", "null"], "description": "Seconds it ran"},
            "attempts": _COUNT,
            "max_attempts": _COUNT,
            "worker": _MAYBE_TEXT,
            "result": {"description": "What the function returned, once finished"},
            "error": {
                "anyOf": [ref("JobError"), {"type": "null"}],
                "description": "The error that explains the state now; null once finished",
            },
            "errors": {"type": "array", "items": ref("JobError")},
            "history": {"type": "array", "items": ref("JobAttempt")},
        },
        "A job: the reference's id, title, created and queue first, then conveyor's record.",
    ),
    "JobError": _record(
        {
            "type": _TEXT,
            "message": _TEXT,
            "traceback": _TEXT,
            "attempt": _COUNT,
            "at": {"type": "number", "description": "When it ended, seconds since the epoch"},
            "started_at": {"type": "number", "description": "When it started (newer records)"},
        },
        "What went wrong in one attempt of a job.",
        optional=("started_at",),
    ),
    "JobAttempt": _record(
        {
            "attempt": _COUNT,
            "started": _TIME,
            "ended": _TIME,
            "outcome": {
                "type": "string",
                "enum": [
                    "finished",
                    "failed",
                    "failed, tried again",
                    "not run (code missing)",
                    "running",
                    "canceled",
                ],
            },
            "error": {
                "anyOf": [
                    {
                        "type": "object",
                        "required": ["type", "message"],
                        "properties": {"type": _TEXT, "message": _TEXT},
                    },
                    {"type": "null"},
                ]
            },
        },
        "One attempt of a job: its number, times, outcome and error.",
    ),
    "Queue": _record(
        {"name": _TEXT, **{state: _COUNT for state in _STATES}, "paused": {"type": "boolean"}},
        "A queue, the number of its jobs in each state, and whether it is paused.",
    ),
    "Worker": _record(
        {
            "key": _TEXT,
            "host": _TEXT,
            "pid": {"type": "integer"},
            "queues": {"type": "array", "items": _TEXT},
            "state": {"type": "string", "enum": ["idle", "busy", "quiet", "stopping"]},
            "started": _TIME,
            "heartbeat": _TIME,
            "concurrency": {"type": "integer", "minimum": 1},
            "jobs": {"type": "array", "items": _TEXT, "description": "Ids of running jobs"},
            "name": {**_TEXT, "description": "How its log lines name it"},
            "finished": {**_COUNT, "description": "Jobs finished"},
            "failed": {**_COUNT, "description": "Jobs failed for good"},
            "retried": {**_COUNT, "description": "Attempts failed and tried again"},
        },
        "A live worker.",
    ),
    "Error": {
        "type": "object",
        "description": (
            "The reference's error object: `__type`, and a `message`, or for a"
            " Validation Error a list of messages per field."
        ),
        "required": ["__type"],
        "properties": {"__type": _TEXT, "message": _TEXT},
        "additionalProperties": {"type": "array", "items": _TEXT},
    },
    "ErrorEnvelope": {
        "type": "object",
        "required": ["help", "success", "error"],
        "properties": {
            "help": {**_TEXT, "description": "URL of the help for the action"},
            "success": {"const": False},
            "error": ref("Error"),
        },
    },
}

_ERRORS = {
    "400": "Malformed request: the body is not a JSON object.",
    "403": "No token, an invalid token, or a read-only token for an action that changes state.",
    "404": "There is no job (or live worker) of that id on this site.",
    "409": "Validation Error: the fields named in the error object are wrong.",
    "413": "The request body is larger than the limit.",
    "414": "The query string is larger than the limit.",
    "500": "Internal Server Error.",
    "503": "The job store is unavailable.",
}


def _error_response(status: str) -> JsonSchema:
    return {
        "description": _ERRORS[status],
        "content": {"application/json": {"schema": ref("ErrorEnvelope")}},
    }


def _responses(action: Action, method: str) -> JsonSchema:
    success = {
        "type": "object",
        "required": ["help", "success", "result"],
        "properties": {"help": _TEXT, "success": {"const": True}, "result": action.result},
    }
    statuses = ["409", "500", "503"]
    statuses += ["400", "413"] if method == "post" else ["414"]
    if not action.public:
        statuses.append("403")
    if action.finds_jobs:
        statuses.append("404")
    responses: JsonSchema = {
        "200": {
            "description": "The action's result, in the reference's envelope.",
            "content": {"application/json": {"schema": success}},
        }
    }
    responses.update({status: _error_response(status) for status in sorted(statuses)})
    return responses


def _operation(action: Action, method: str) -> JsonSchema:
    operation: JsonSchema = {
        "operationId": f"{action.name}_{method}",
        "summary": action.summary,
        "description": action.description,
        "responses": _responses(action, method),
    }
    if action.public:
        operation["security"] = []
    if method == "get":
        operation["parameters"] = [
            {
                "name": param.name,
                "in": "query",
                "required": param.required,
                "description": param.description,
                "schema": param.kind.schema(query=True),
                **({"style": "form", "explode": True} if param.is_list else {}),
            }
            for param in action.params
        ]
    else:
        operation["requestBody"] = {
            "required": any(param.required for param in action.params),
            "content": {
                "application/json": {"schema": body_schema(action.params)},
                "application/x-www-form-urlencoded": {"schema": form_schema(action.params)},
            },
        }
    return operation


def document(action_path: Callable[[str], str]) -> dict[str, Any]:
    """The OpenAPI document; ``action_path(name)`` is the URL path of an action."""
    paths: dict[str, JsonSchema] = {}
    for action in ACTIONS.values():
        methods = ("post",) if action.changes_state else ("get", "post")
        paths[action_path(action.name)] = {m: _operation(action, m) for m in methods}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "conveyor web API",
            "version": __version__,
            "description": (
                "CKAN's job actions (job_list, job_show, job_cancel, job_clear) and"
                " conveyor's own, in CKAN's envelope: `help`, `success`, and `result` or"
                " `error`. Actions that change nothing also answer GET with query"
                " parameters (repeat a list parameter: ?queues=a&queues=b)."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `conveyor token create`.",
                }
            },
        },
        "security": [{"bearerAuth": []}],
    }
