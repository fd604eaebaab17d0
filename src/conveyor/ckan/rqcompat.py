"""RQ's names inside a conveyor job of a CKAN site.

Extensions written for CKAN's RQ worker call ``rq.get_current_job()`` inside
their jobs (xloader reads the job's id and meta from it) and catch
``rq.timeouts.JobTimeoutException``. In a CKAN child process :func:`install`
points ``rq.get_current_job`` (and copies of it already imported by
extensions) at conveyor's running job, as an RQ-compatible
:class:`~conveyor.ckan.jobs.CkanJob`, and makes the timeout conveyor raises
inside a job an instance of both conveyor's ``JobTimeoutException`` and
RQ's (:class:`JobTimeoutException`), so ``except`` clauses written for
either catch it.

Why here and not in conveyor's exception tree: importing RQ costs more
than importing conveyor, and only a CKAN job process needs RQ's names.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import rq
import rq.job
import rq.timeouts

import conveyor
from conveyor.ckan import rebinding

_original = rq.job.get_current_job
log = logging.getLogger("conveyor.ckan")
_CONVEYOR_TIMEOUT: type[Exception] | None = getattr(conveyor, "JobTimeoutException", None)
#: A job's timeout as conveyor raises it in a CKAN job process: conveyor's and RQ's.
JobTimeoutException: type[Exception] = type(
    "JobTimeoutException",
    (_CONVEYOR_TIMEOUT, rq.timeouts.JobTimeoutException)
    if _CONVEYOR_TIMEOUT is not None
    else (rq.timeouts.JobTimeoutException,),
    {"__module__": __name__, "__doc__": "A job's timeout: conveyor's and RQ's exception."},
)


def get_current_job(connection: Any = None, job_class: Any = None) -> Any:
    """The job running in this process, as an ``rq.job.Job``; None outside a job."""
    del connection, job_class
    from conveyor.ckan.jobs import as_rq_job  # noqa: PLC0415 -- that module needs CKAN loaded

    current = getattr(conveyor, "get_current_job", None)
    job = current() if current is not None else None
    return None if job is None else as_rq_job(job)


def install() -> None:
    """Make RQ's ``get_current_job`` conveyor's in this process (idempotent)."""
    rebinding.register(_original, get_current_job)
    rq.job.get_current_job = get_current_job
    rq.get_current_job = get_current_job
    rebinding.rebind()
    _raise_rq_compatible_timeouts()


def _raise_rq_compatible_timeouts() -> None:
    """Have conveyor raise :class:`JobTimeoutException` (also RQ's) at a job's timeout."""
    try:
        execution: Any = importlib.import_module("conveyor.execution")
    except ImportError:
        execution = None
    if execution is None or not hasattr(execution, "JobTimeoutException"):
        log.warning("This conveyor raises no catchable timeout; RQ's name cannot catch one")
        return
    execution.JobTimeoutException = JobTimeoutException
