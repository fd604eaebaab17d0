"""RQ's queue methods on conveyor's :class:`~conveyor.Queue`, with RQ's meanings.

Code written for RQ (CKAN's extensions, CKAN's own datastore) calls
``get_queue().enqueue(f, *args, job_id=..., job_timeout=...)``,
``enqueue_call(func, args, kwargs, timeout=...)``, ``enqueue_in(timedelta,
f, ...)`` and ``fetch_job(id)``; these do what RQ does with them, storing the
job through the same path as :func:`conveyor.enqueue`.

As in RQ, ``enqueue``, ``enqueue_at`` and ``enqueue_in`` take the job's own
arguments as ``*args, **kwargs`` and reserve a few keywords for the job's
options (:data:`RESERVED`); every other keyword goes to the function. The
explicit form ``enqueue(f, args=(...), kwargs={...}, ...)`` works too. RQ
options conveyor has no counterpart for (:data:`UNSUPPORTED`) are refused
when given a value, never passed to the function or dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from conveyor import api
from conveyor.exceptions import InvalidJobError, NoSuchJobError

if TYPE_CHECKING:
    from conveyor.config import Config
    from conveyor.job import Job

#: RQ's keywords of ``enqueue`` that are the job's options, and conveyor's names for them.
RESERVED = {
    "job_timeout": "timeout",
    "description": "description",
    "result_ttl": "result_ttl",
    "failure_ttl": "failure_ttl",
    "job_id": "job_id",
    "at_front": "at_front",
    "meta": "meta",
    "retry": "retry",
}
#: RQ's reserved keywords with no conveyor counterpart: refused unless None (or False).
UNSUPPORTED = (
    "ttl",
    "depends_on",
    "repeat",
    "on_success",
    "on_failure",
    "on_stopped",
    "rate_limit",
    "webhooks",
    "pipeline",
    "unique",
)


def _refuse_unsupported(given: Mapping[str, Any]) -> None:
    for name in UNSUPPORTED:
        if given.get(name) not in (None, False):
            raise InvalidJobError(
                f"RQ's {name!r} option is not supported by conveyor; nothing was enqueued"
                " (see docs/migrating.md)"
            )


def split_call(
    args: Sequence[Any], kwargs: Mapping[str, Any]
) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    """RQ's reading of ``enqueue(f, *args, **kwargs)``: (args, kwargs, options) of the job."""
    rest = dict(kwargs)
    options = {ours: rest.pop(theirs) for theirs, ours in RESERVED.items() if theirs in rest}
    _refuse_unsupported({name: rest.pop(name) for name in UNSUPPORTED if name in rest})
    if "args" in rest or "kwargs" in rest:
        if args:
            raise InvalidJobError(
                "Positional arguments cannot be given with explicit args= and kwargs="
            )
        explicit_args = rest.pop("args", None) or ()
        explicit_kwargs = rest.pop("kwargs", None) or {}
        if rest:
            raise InvalidJobError(
                f"Keyword(s) {', '.join(sorted(rest))} given with explicit args= and kwargs=;"
                " put the function's keywords in kwargs="
            )
        if not isinstance(explicit_args, (list, tuple)) or not isinstance(explicit_kwargs, dict):
            raise InvalidJobError("args= must be a list or tuple and kwargs= a dict")
        return list(explicit_args), dict(explicit_kwargs), options
    return list(args), rest, options


class RQQueueMethods:
    """RQ's ``Queue`` methods, for :class:`conveyor.Queue` (which has ``name`` and ``config``)."""

    name: str
    config: Config

    def _submit(
        self,
        func: Callable[..., Any] | str,
        args: Sequence[Any] | None,
        kwargs: Mapping[str, Any] | None,
        options: Mapping[str, Any],
        run_at: float | None = None,
    ) -> Job:
        """Build and store one job on this queue, as :func:`conveyor.enqueue` does."""
        config = self.config
        now = time.time()
        given = {key: value for key, value in options.items() if value is not None}
        meta = given.get("meta")
        # CKAN (over RQ) keeps a job's title in meta["title"]: it is conveyor's title.
        title = meta.get("title") if isinstance(meta, Mapping) else None
        queue = self.name[len(config.queue_prefix) :]
        job = api.build_job(
            func, args, kwargs, title, queue, None, config=config, now=now, **given
        )
        if run_at is not None:
            job = api.for_later(job, run_at)
        return api.dispatch([job], config, now)[0]

    def enqueue(self, f: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Job:
        """Put ``f(*args, **kwargs)`` on this queue (RQ's ``Queue.enqueue``).

        The keywords in :data:`RESERVED` (``job_timeout``, ``job_id``,
        ``description``, ``result_ttl``, ``failure_ttl``, ``at_front``,
        ``meta``, ``retry``) are the job's options; any other goes to ``f``.
        """
        call_args, call_kwargs, options = split_call(args, kwargs)
        return self._submit(f, call_args, call_kwargs, options)

    def enqueue_call(
        self,
        func: Callable[..., Any] | str,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        timeout: Any = None,
        result_ttl: int | None = None,
        ttl: int | None = None,
        failure_ttl: int | None = None,
        description: str | None = None,
        depends_on: Any = None,
        job_id: str | None = None,
        at_front: bool = False,
        meta: Mapping[str, Any] | None = None,
        retry: Any = None,
        **more: Any,
    ) -> Job:
        """Put ``func(*args, **kwargs)`` on this queue (RQ's ``Queue.enqueue_call``).

        ``timeout`` accepts what :func:`conveyor.enqueue` does. ``ttl``,
        ``depends_on`` and RQ's other options conveyor lacks are refused
        unless None.
        """
        _refuse_unsupported({"ttl": ttl, "depends_on": depends_on, **more})
        unknown = sorted(set(more) - set(UNSUPPORTED))
        if unknown:
            raise InvalidJobError(f"Unknown enqueue_call option(s): {', '.join(unknown)}")
        options = {
            "timeout": timeout,
            "result_ttl": result_ttl,
            "failure_ttl": failure_ttl,
            "description": description,
            "job_id": job_id,
            "at_front": at_front or None,
            "meta": meta,
            "retry": retry,
        }
        return self._submit(func, args, kwargs, options)

    def enqueue_at(
        self, datetime: Any, f: Callable[..., Any] | str, *args: Any, **kwargs: Any
    ) -> Job:
        """:meth:`enqueue`, for a job that runs at ``datetime`` (naive: local time, as in RQ).

        The job is stored at once as ``scheduled``; a worker queues it when
        it is due (at the back of the queue: ``at_front`` is not kept).
        """
        run_at = api.timestamp_of(datetime)
        call_args, call_kwargs, options = split_call(args, kwargs)
        return self._submit(f, call_args, call_kwargs, options, run_at=run_at)

    def enqueue_in(
        self, time_delta: Any, func: Callable[..., Any] | str, *args: Any, **kwargs: Any
    ) -> Job:
        """:meth:`enqueue`, for a job that runs after ``time_delta`` (a timedelta, or seconds)."""
        run_at = time.time() + api.seconds_of(time_delta)
        call_args, call_kwargs, options = split_call(args, kwargs)
        return self._submit(func, call_args, call_kwargs, options, run_at=run_at)

    def fetch_job(self, job_id: str) -> Job | None:
        """The job with this id if it is on this queue, else None (RQ's ``fetch_job``)."""
        try:
            job = api.job_from_id(job_id)
        except NoSuchJobError:
            return None
        return job if job.origin == self.name else None

    def empty(self) -> int:
        """Delete every job waiting on this queue (queued or scheduled); how many went."""
        cleared = api.backend(self.config).clear([self.name], now=time.time())
        return cleared[self.name]

    def delete(self, delete_jobs: bool = True) -> None:
        """RQ's ``Queue.delete``: with ``delete_jobs``, :meth:`empty` the queue.

        A conveyor queue exists while it holds a job record, so there is
        nothing else to delete: it leaves the listings when its last record goes.
        """
        if delete_jobs:
            self.empty()
