"""RQ's names inside a conveyor job of a CKAN site.

Extensions written for CKAN's RQ worker call ``rq.get_current_job()`` inside
their jobs (xloader reads the job's id and meta from it) and catch
``rq.timeouts.JobTimeoutException``. In a CKAN child process :func:`install`
points ``rq.get_current_job`` (and copies of it already imported by
extensions) at conveyor's running job, as an RQ-compatible
:class:`~conveyor.ckan.jobs.CkanJob`. conveyor's ``JobTimeoutException`` is
a subclass of RQ's whenever RQ is importable, so ``except`` clauses written
for RQ catch conveyor's timeout.
"""

from __future__ import annotations

from typing import Any

import rq
import rq.job

import conveyor
from conveyor.ckan import rebinding

_original = rq.job.get_current_job


def get_current_job(connection: Any = None, job_class: Any = None) -> Any:
    """The job running in this process, as an ``rq.job.Job``; None outside a job."""
    del connection, job_class
    from conveyor import config as _config  # noqa: PLC0415
    from conveyor.ckan.jobs import CkanJob  # noqa: PLC0415 -- jobs imports this module's peers

    current = getattr(conveyor, "get_current_job", None)
    job = current() if current is not None else None
    if job is None:
        return None
    return CkanJob(job, _config.current())


def install() -> None:
    """Make RQ's ``get_current_job`` conveyor's in this process (idempotent)."""
    rebinding.register(_original, get_current_job)
    rq.job.get_current_job = get_current_job
    rq.get_current_job = get_current_job
    rebinding.rebind()
