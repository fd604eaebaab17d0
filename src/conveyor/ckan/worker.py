"""A conveyor worker that runs a CKAN site's jobs, as CKAN's own worker does.

- Before each fork (in the supervisor): the model's session is removed and
  its engine disposed, so no database connection is shared with a child,
  and every ``IForkObserver`` plugin's ``before_fork()`` is called (the
  datastore disposes its engines there).
- In each new child, before its first job: CKAN's app environment is
  loaded from the site's config (``load_environment``: config, plugins,
  model), and RQ's names are pointed at conveyor's (``rqcompat``).
- By default every job gets a fresh child (``isolation="job"``), as with
  CKAN's RQ worker; ``isolation="child"`` reuses children, loading the
  environment once per child instead of once per job (the model's session
  then lives on from one job to the next in that child).
- The lifecycle lines go to ``ckan.lib.jobs`` in CKAN's wording
  (``logbridge``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from ckan.common import config as ckan_config
from ckan.model import meta

import conveyor
from ckan import plugins
from conveyor.ckan import logbridge, rqcompat, settings

log = logging.getLogger("ckan.lib.jobs")


def dispose_database() -> None:
    """Close the model's session and connections: none may cross a fork."""
    log.debug("Disposing database engine before fork")
    meta.Session.remove()
    if meta.engine is not None:
        meta.engine.dispose()


def before_fork() -> None:
    """In the supervisor, before each child is forked."""
    dispose_database()
    for plugin in plugins.PluginImplementations(plugins.IForkObserver):
        plugin.before_fork()


def child_init() -> None:
    """In each child, before its first job: CKAN's environment, RQ's names."""
    from ckan.config.environment import load_environment  # noqa: PLC0415 -- heavy, child only

    load_environment(ckan_config)
    settings.sync(ckan_config)
    rqcompat.install()


class CkanWorker(conveyor.Worker):
    """CKAN's ``ckan.lib.jobs.Worker``, on conveyor.

    Takes CKAN's arguments (one queue name or a list, default ``default``)
    and conveyor's keywords (``concurrency``, ``isolation``, ``name``).
    """

    def __init__(
        self,
        queues: Iterable[str] | str | None = None,
        *args: Any,
        isolation: str = "job",
        **kwargs: Any,
    ) -> None:
        del args  # RQ's positional extras (connection ...) mean nothing here
        kwargs.pop("connection", None)
        settings.sync(ckan_config)
        if queues is not None and not isinstance(queues, str):
            queues = list(queues)
        super().__init__(
            queues or None,
            isolation=isolation,
            init=child_init,
            before_fork=before_fork,
            **kwargs,
        )

    def work(
        self,
        burst: bool = False,
        max_idle_time: float | None = None,
        with_scheduler: bool = True,
        **kwargs: Any,
    ) -> bool:
        """Run jobs (CKAN's and RQ's ``work`` arguments; ``with_scheduler`` is always on).

        conveyor promotes scheduled jobs in every worker, so there is no
        scheduler to turn off; the argument is accepted for CKAN's
        ``--no-scheduler``.
        """
        del with_scheduler, kwargs
        logbridge.install()
        logbridge.name_worker(self.name, self.key)
        worker_log = logging.getLogger("conveyor.worker")
        if worker_log.getEffectiveLevel() > logging.INFO:
            worker_log.setLevel(logging.INFO)  # as CKAN sets RQ's worker logger
        dispose_database()
        return super().work(burst=burst, max_idle_time=max_idle_time)
