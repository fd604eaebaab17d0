"""CKAN's log lines for conveyor's jobs and workers, under CKAN's logger names.

Inside a CKAN site the worker's lifecycle lines and the enqueue line belong
to ``ckan.lib.jobs``, in CKAN's wording (CKAN's tests and operators' log
filters rely on both). :class:`CkanLines` is a filter on conveyor's loggers
that turns those records into CKAN's and hands them to ``ckan.lib.jobs``;
every other record of conveyor's passes through unchanged. Errors of jobs
(raised, timed out, process died) go to ``ckan.lib.jobs`` as they are.

The records are recognised by their message templates, which conveyor
keeps in one place per logger (``worker/outcomes.py``, ``supervisor.py``,
``api.py``); the CKAN test run checks the result line by line.

This module needs no CKAN.
"""

from __future__ import annotations

import logging
from typing import Any

CKAN_LOGGER = "ckan.lib.jobs"
#: conveyor's loggers the filter is attached to.
SOURCES = ("conveyor.jobs", "conveyor.worker")

_STARTED = "Worker %s (PID %s) has started on queue(s) %s "  # CKAN's, trailing space included
_STOPPED = "Worker %s (PID %s) has stopped"
_STARTS_JOB = 'Worker %s starts job %s from queue "%s"'
_FINISHED_JOB = 'Worker %s has finished job %s from queue "%s"'


#: A worker's name -> its key, for the workers of this process (see :func:`name_worker`).
_keys: dict[str, str] = {}


def name_worker(name: str, key: str) -> None:
    """CKAN's lines name worker ``name`` by its ``key``, as RQ's workers were named."""
    _keys[name] = key


def _worker_key(record: logging.LogRecord) -> str | None:
    key = getattr(record, "worker_key", None)
    name = getattr(record, "worker", None)
    if isinstance(name, str) and name in _keys:
        return _keys[name]
    return key if isinstance(key, str) else name if isinstance(name, str) else None


def _queues(record: logging.LogRecord) -> str:
    names = getattr(record, "queues", None) or []
    return ", ".join(f'"{name}"' for name in names)


def _worker_line(record: logging.LogRecord, worker: str) -> tuple[str, tuple[Any, ...]] | None:
    """CKAN's template and args for a worker's start or stop line."""
    msg = str(record.msg)
    if msg.startswith("Worker %s (PID %d) has started"):
        return _STARTED, (worker, record.process, _queues(record))
    if msg.startswith("Worker %s (PID %d) has stopped"):
        return _STOPPED, (worker, record.process)
    return None


#: conveyor's job lines (template prefix) -> CKAN's template, taking the first three args.
_JOB_LINES = (
    ("Worker %s starts job", _STARTS_JOB),
    ("Worker %s has finished job", _FINISHED_JOB),
)


def translate(record: logging.LogRecord) -> tuple[int, str, tuple[Any, ...]] | None:
    """CKAN's (level, template, args) for one of conveyor's records, or None to keep it."""
    msg = record.msg if isinstance(record.msg, str) else ""
    args = record.args if isinstance(record.args, tuple) else ()
    if _keys:  # conveyor's lines may name a worker by its short name; CKAN's use its key
        args = tuple(_keys.get(arg, arg) if isinstance(arg, str) else arg for arg in args)
    if record.name == "conveyor.jobs":
        keep = msg.startswith("Added background job")
        return (record.levelno, msg, args) if keep else None
    if record.levelno >= logging.ERROR:
        return record.levelno, msg, args
    worker = _worker_key(record)
    line = _worker_line(record, worker) if worker else None
    if line is not None:
        return logging.INFO, *line
    for prefix, template in _JOB_LINES:
        if msg.startswith(prefix) and len(args) >= 3:
            return logging.INFO, template, args[:3]
    return None


class CkanLines(logging.Filter):
    """Re-logs conveyor's lifecycle records on ``ckan.lib.jobs``, in CKAN's words."""

    def filter(self, record: logging.LogRecord) -> bool:
        translated = translate(record)
        if translated is None:
            return True
        level, msg, args = translated
        target = logging.getLogger(CKAN_LOGGER)
        if target.isEnabledFor(level):
            copy = target.makeRecord(
                CKAN_LOGGER,
                level,
                record.pathname,
                record.lineno,
                msg,
                args,
                None,
                record.funcName,
                {key: value for key, value in vars(record).items() if key in _EXTRA_KEYS},
            )
            target.handle(copy)
        return False


_EXTRA_KEYS = frozenset({"job_id", "queue", "queues", "worker", "title", "duration"})
_bridge = CkanLines()


def install() -> None:
    """Attach the filter to conveyor's loggers (idempotent)."""
    for name in SOURCES:
        logger = logging.getLogger(name)
        if _bridge not in logger.filters:
            logger.addFilter(_bridge)


def uninstall() -> None:
    for name in SOURCES:
        logging.getLogger(name).removeFilter(_bridge)
