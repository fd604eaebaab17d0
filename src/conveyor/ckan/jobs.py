"""CKAN's job functions (``ckan.lib.jobs``) on conveyor.

:func:`install` puts these functions in place of ``ckan.lib.jobs``'s own
and of the toolkit's job names. CKAN's actions (``job_list``, ``job_show``,
``job_cancel``, ``job_clear``) and its ``ckan jobs`` commands look those
names up in ``ckan.lib.jobs`` each time they run, so they run on conveyor
unchanged, with CKAN's own output and log lines. Extensions that bound a
name at import time (``from ckan.plugins.toolkit import enqueue_job``)
before the plugin loaded are rebound too (:func:`rebind`).

Every function first brings conveyor's configuration in line with CKAN's
(``settings.sync``), so a test that changes ``ckan.site_id`` or
``ckan.jobs.timeout`` at run time is obeyed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ckan.lib.jobs as ckan_jobs
import rq.job
from ckan.common import config as ckan_config
from ckan.plugins import toolkit

import conveyor
from conveyor import api
from conveyor import config as _config
from conveyor.backends import JobState
from conveyor.ckan import logbridge, rebinding, settings
from conveyor.ckan.worker import CkanWorker

log = logging.getLogger("ckan.lib.jobs")


def current_config() -> _config.Config:
    """conveyor's configuration for the CKAN site in force, installed."""
    return settings.sync(ckan_config)


class CkanJob(conveyor.Job, rq.job.Job):  # type: ignore[misc]
    """A conveyor job that is also an ``rq.job.Job``, for code that checks.

    conveyor's attributes come first (``id``, ``meta``, ``origin``,
    ``timeout``, ``args`` ...); nothing of RQ's runs, because RQ's
    ``__init__`` (which needs a Redis connection) is never called: jobs
    become CkanJobs through :func:`as_rq_job`.
    """

    def delete(self, *args: Any, **kwargs: Any) -> None:
        """CKAN's ``job_cancel``: a waiting or running job is canceled (kept as canceled);
        the kept record of a job that already ended is deleted, as RQ's ``delete()`` does.
        """
        remove = getattr(conveyor.Job, "delete", None)  # RQ's Job.delete, where conveyor has it
        if self.state in _ENDED and remove is not None:
            remove(self, *args, **kwargs)
            return
        conveyor.job_cancel(self.id)


_ENDED = frozenset({JobState.FINISHED, JobState.FAILED, JobState.CANCELED})


def as_rq_job(job: conveyor.Job) -> CkanJob:
    """The same job object, now also an ``rq.job.Job`` (its state is untouched).

    The object itself is kept, not copied, so a running job's own Job keeps
    saving its meta through its worker's supervisor.
    """
    job.__class__ = CkanJob
    return job  # type: ignore[return-value]


def add_queue_name_prefix(name: str) -> str:
    current_config()
    return api.add_queue_name_prefix(name)


def remove_queue_name_prefix(name: str) -> str:
    current_config()
    return api.remove_queue_name_prefix(name)


def get_queue(name: str = api.DEFAULT_QUEUE_NAME) -> api.Queue:
    current_config()
    return api.get_queue(name)


def get_all_queues() -> list[api.Queue]:
    """This site's queues holding any job record, waiting or kept (see differences.md, quirk 1)."""
    current_config()
    return api.get_all_queues()


def enqueue(
    fn: Callable[..., Any] | str,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    title: str | None = None,
    queue: str = api.DEFAULT_QUEUE_NAME,
    rq_kwargs: Mapping[str, Any] | None = None,
) -> CkanJob:
    """CKAN's ``enqueue``, on conveyor: same arguments, an RQ-compatible job back."""
    current_config()
    return as_rq_job(api.enqueue(fn, args, kwargs, title, queue, rq_kwargs))


def job_from_id(id: str) -> CkanJob:
    """The job with this id; KeyError (conveyor's NoSuchJobError) if there is none."""
    current_config()
    return as_rq_job(api.job_from_id(id))


def dictize_job(job: conveyor.Job) -> dict[str, Any]:
    """CKAN's four keys, in CKAN's formats (``id``, ``title``, ``created``, ``queue``).

    Deliberately not conveyor's full record: its arguments may hold secrets
    (xloader passes an API token), and CKAN's API never showed them.
    """
    full = conveyor.dictize_job(job)
    return {key: full[key] for key in ("id", "title", "created", "queue")}


def test_job(*args: Any) -> None:
    """CKAN's test job: prints its arguments."""
    print(args, flush=True)


test_job.__test__ = False  # type: ignore[attr-defined]  # not a pytest test

#: ckan.lib.jobs name -> conveyor's replacement.
REPLACEMENTS: dict[str, Any] = {
    "add_queue_name_prefix": add_queue_name_prefix,
    "remove_queue_name_prefix": remove_queue_name_prefix,
    "get_queue": get_queue,
    "get_all_queues": get_all_queues,
    "enqueue": enqueue,
    "job_from_id": job_from_id,
    "dictize_job": dictize_job,
    "Worker": CkanWorker,
}
#: toolkit name -> ckan.lib.jobs name.
TOOLKIT_NAMES = {
    "enqueue_job": "enqueue",
    "get_job_queue": "get_queue",
    "job_from_id": "job_from_id",
}


def installed() -> bool:
    """Whether CKAN's job functions are conveyor's in this process."""
    return ckan_jobs.enqueue is enqueue


def install() -> None:
    """Put conveyor's functions in place of CKAN's (idempotent; for the whole process).

    There is no uninstall: jobs enqueued on conveyor must stay visible to
    CKAN's job functions for as long as the process runs, even if the plugin
    is unloaded (CKAN's test harness unloads every plugin before the tests).
    """
    if not installed():
        for name, replacement in REPLACEMENTS.items():
            rebinding.register(getattr(ckan_jobs, name), replacement)
            setattr(ckan_jobs, name, replacement)
        for toolkit_name, name in TOOLKIT_NAMES.items():
            rebinding.register(toolkit.__dict__.get(toolkit_name), REPLACEMENTS[name])
            setattr(toolkit, toolkit_name, REPLACEMENTS[name])
        logbridge.install()
        current_config()
    rebinding.rebind(skip=("ckan.lib.jobs",))
