"""A job's attempts, told from its record: number, start, end, outcome and error of each.

A record keeps the error of every failed attempt (with the attempt's number,
start and end) and the times of its latest attempt; together they tell every
attempt, so a job that failed twice and then finished shows attempts 1 and 2
failed, each with its error, and attempt 3 finished. An attempt the worker
could not even start, because the job's code was missing there, is listed
with the outcome ``not run (code missing)``: it was not counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conveyor.backends import JobRecord, JobState
from conveyor.backends.base import ErrorInfo

#: Turns a timestamp into text (``conveyor.job.format_time``); None stays None.
TimeFormat = Callable[[float | None], str | None]

#: Outcomes an attempt can have, as ``history`` spells them.
FINISHED, FAILED, RETRIED, NOT_RUN, RUNNING, CANCELED = (
    "finished",
    "failed",
    "failed, tried again",
    "not run (code missing)",
    "running",
    "canceled",
)


def _failed(error: ErrorInfo, final: bool, format_time: TimeFormat) -> dict[str, Any]:
    if final:
        outcome = FAILED
    elif error.type == "JobImportError":
        outcome = NOT_RUN
    else:
        outcome = RETRIED
    return {
        "attempt": error.attempt,
        "started": format_time(error.started_at),
        "ended": format_time(error.at) if error.at else None,
        "outcome": outcome,
        "error": {"type": error.type, "message": error.message},
    }


def _latest(record: JobRecord, format_time: TimeFormat) -> dict[str, Any] | None:
    """The attempt the record's own times describe, unless an error describes it already."""
    state, started = record.state, record.started_at
    if started is None or state in (JobState.FAILED, JobState.QUEUED, JobState.SCHEDULED):
        return None  # never started, or its error (in the history) tells it
    if state is JobState.CANCELED:
        last = record.error
        if last is not None and last.at >= started:
            return None  # canceled while waiting for a retry
    outcome = {JobState.FINISHED: FINISHED, JobState.STARTED: RUNNING}.get(state, CANCELED)
    return {
        "attempt": record.attempts,
        "started": format_time(started),
        "ended": format_time(record.ended_at) if state is not JobState.STARTED else None,
        "outcome": outcome,
        "error": None,
    }


def attempt_history(record: JobRecord, format_time: TimeFormat) -> list[dict[str, Any]]:
    """Every attempt of the job, oldest first (JSON-ready, times made by ``format_time``)."""
    errors = record.errors
    final = record.state is JobState.FAILED
    entries = [
        _failed(error, final and n == len(errors) - 1, format_time)
        for n, error in enumerate(errors)
    ]
    latest = _latest(record, format_time)
    if latest is not None:
        entries.append(latest)
    return entries


def current_error(record: JobRecord) -> ErrorInfo | None:
    """The error that explains the job's state now: none for a finished or running job."""
    if record.state in (JobState.FINISHED, JobState.STARTED):
        return None
    return record.error
