"""Pausing and resuming queues (re-exported by conveyor.manage).

The store keeps the paused queues and the commands (see
:mod:`conveyor.backends.control`); workers read both at every heartbeat, so
each call here takes effect within a heartbeat (at most two seconds).
"""

from __future__ import annotations

import logging
import time

from conveyor import config as _config
from conveyor.api import backend, check_queue_name, queue_name_problem
from conveyor.exceptions import ValidationError

log = logging.getLogger("conveyor.jobs")


def _queue(name: object) -> str:
    # As the web API reads a required parameter: None or "" is missing.
    problem = "Missing value" if name is None or name == "" else queue_name_problem(name)
    if problem:
        raise ValidationError({"queue": [problem]})
    return check_queue_name(name)


def check_queue_names(names: list[str]) -> None:
    """ValidationError naming the first of ``names`` that cannot name a queue."""
    for name in names:
        _queue(name)


def queue_pause(name: str) -> bool:
    """Stop every worker claiming from queue ``name``; False if it was paused already.

    Its queued and scheduled jobs stay (scheduled ones still become queued
    when due), and running jobs finish. A queue that holds no jobs yet can be
    paused too.
    """
    config = _config.current()
    short = _queue(name)
    changed = backend(config).set_paused([config.queue_prefix + short], True, now=time.time())
    if changed:
        log.info('Paused background job queue "%s"', short, extra={"queue": short})
    return bool(changed)


def queue_resume(name: str) -> bool:
    """Let workers claim from queue ``name`` again; False if it was not paused."""
    config = _config.current()
    short = _queue(name)
    changed = backend(config).set_paused([config.queue_prefix + short], False, now=time.time())
    if changed:
        log.info('Resumed background job queue "%s"', short, extra={"queue": short})
    return bool(changed)


def paused_queues() -> list[str]:
    """The names of this site's paused queues, sorted."""
    config = _config.current()
    prefix = len(config.queue_prefix)
    return [name[prefix:] for name in backend(config).paused_queues(config.queue_prefix)]
