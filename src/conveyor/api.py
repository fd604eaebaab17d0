"""The reference's module API: enqueue jobs, name queues, find jobs."""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conveyor import config as _config
from conveyor import limits, serializer
from conveyor.backends import Backend, JobRecord, JobState, NewJob, shared_backend
from conveyor.backends.base import assemble
from conveyor.exceptions import InvalidJobError, NoStoreError, NoSuchJobError
from conveyor.functions import function_path
from conveyor.job import Job, format_time
from conveyor.retry import Retry
from conveyor.retry import coerce as coerce_retry
from conveyor.rq_queue import RQQueueMethods

log = logging.getLogger("conveyor.jobs")

DEFAULT_QUEUE_NAME = "default"
#: Keys of the reference's ``rq_kwargs`` that conveyor honours.
RQ_KWARGS = frozenset(
    {
        "timeout",
        "job_id",
        "at_front",
        "meta",
        "result_ttl",
        "failure_ttl",
        "description",
        "retry",
    }
)
#: Every keyword option enqueue() accepts.
_OPTIONS = RQ_KWARGS | {"max_attempts"}
#: Options only the worker reads, by keyword: each one's check, which returns
#: the JSON value to keep or raises InvalidJobError. They travel in
#: NewJob.options, which every backend stores as one opaque value, so a new
#: one is an entry here and the worker code that reads it (docs/ARCHITECTURE.md,
#: "Where a change goes"). None yet.
_WORKER_OPTIONS: dict[str, Callable[[Any], Any]] = {}
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
MAX_QUEUE_NAME = 200


def backend(config: _config.Config | None = None, *, create: bool = True) -> Backend:
    """This process's backend for the configuration in force.

    With ``create=False`` (the read-only commands) a missing SQLite store is
    not created: NoStoreError says where it was looked for and which config
    file (if any) pointed there.
    """
    config = config or _config.current()
    try:
        return shared_backend(config.backend, config.base_dir, create=create)
    except NoStoreError as exc:
        raise NoStoreError(
            f"{exc} ({_config.describe_source(config)}). Run the command in the project"
            " that uses it, or give its config file with -c; a worker or the first enqueue"
            " creates the store."
        ) from None


# -- queue names ---------------------------------------------------------------
def add_queue_name_prefix(name: str) -> str:
    """The full name of this site's queue ``name`` (``conveyor:<site_id>:<name>``)."""
    return _config.current().queue_prefix + name


def remove_queue_name_prefix(name: str) -> str:
    """The user's name for a full queue name; ValueError if it is not this site's."""
    prefix = _config.current().queue_prefix
    if not name.startswith(prefix):
        raise ValueError(f'Queue name "{name}" is not prefixed.')
    return name[len(prefix) :]


def check_queue_name(name: object) -> str:
    """``name`` if it can name a queue, else InvalidJobError saying why."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidJobError(f"A queue name must be a non-blank string, not {name!r}")
    if len(name) > MAX_QUEUE_NAME or not name.isprintable():
        raise InvalidJobError(
            f"Queue name {name[:40]!r} is too long or has control characters"
            f" (at most {MAX_QUEUE_NAME} printable characters)"
        )
    return name


def queue_name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a queue, in the web API's words, or None (management calls)."""
    if not isinstance(name, str):
        return f"Not a string: {name!r}"
    if not name:
        return "Must not be empty"
    if len(name) > MAX_QUEUE_NAME:
        return f"Longer than {MAX_QUEUE_NAME} characters"
    try:
        check_queue_name(name)
    except InvalidJobError:
        return f"Not a queue name: {name!r}"
    return None


_UUID_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_job_id() -> str:
    """A new job id: a random (version 4) UUID in its usual text form.

    The same text as ``str(uuid.uuid4())``, made from the random bytes
    without building a UUID object, which costs three times as much.
    """
    digits = os.urandom(16).hex()
    return (
        f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-"
        f"{_UUID_VARIANT[digits[16]]}{digits[17:20]}-{digits[20:]}"
    )


def is_job_id(value: object) -> bool:
    """Whether ``value`` has the shape of a job id (letters, digits, ``-`` and ``_``)."""
    return isinstance(value, str) and _JOB_ID.match(value) is not None


@dataclass(frozen=True)
class Queue(RQQueueMethods):
    """One of this site's queues. ``name`` is the full, prefixed name, as in RQ.

    RQ's ``enqueue``, ``enqueue_call``, ``enqueue_at``, ``enqueue_in``,
    ``fetch_job`` and ``delete`` come from :class:`~conveyor.rq_queue.RQQueueMethods`.
    """

    name: str
    config: _config.Config

    @property
    def short_name(self) -> str:
        """The name without the site prefix."""
        return self.name[len(self.config.queue_prefix) :]

    @property
    def count(self) -> int:
        """The number of queued jobs."""
        return backend(self.config).count([self.name])[self.name].get(JobState.QUEUED, 0)

    def __len__(self) -> int:
        return self.count

    def is_empty(self) -> bool:
        return self.count == 0

    def get_jobs(self, offset: int = 0, length: int = -1) -> list[Job]:
        """Queued jobs in the order workers will take them."""
        page = backend(self.config).list_jobs(
            [self.name], offset=offset, limit=None if length < 0 else length
        )
        return [Job(record, self.config) for record in page.items]

    @property
    def jobs(self) -> list[Job]:
        """Every queued job, in the order workers will take them."""
        return self.get_jobs()

    @property
    def job_ids(self) -> list[str]:
        return [job.id for job in self.jobs]

    def get_job_ids(self, offset: int = 0, length: int = -1) -> list[str]:
        """The ids of :meth:`get_jobs` (RQ's ``get_job_ids``)."""
        return [job.id for job in self.get_jobs(offset, length)]


def get_queue(name: str = DEFAULT_QUEUE_NAME) -> Queue:
    """This site's queue ``name``."""
    config = _config.current()
    return Queue(config.queue_prefix + check_queue_name(name), config)


#: The name CKAN's toolkit gives :func:`get_queue`.
get_job_queue = get_queue


def get_all_queues() -> list[Queue]:
    """This site's queues that hold any job (queued, running or kept), sorted by name."""
    config = _config.current()
    return [Queue(name, config) for name in backend(config).queue_names(config.queue_prefix)]


# -- enqueueing ------------------------------------------------------------------
def _options(rq_kwargs: Mapping[str, Any] | None, options: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``rq_kwargs`` into the keyword options, refusing unknown or doubled keys."""
    merged = dict(options)
    if rq_kwargs:
        if not isinstance(rq_kwargs, Mapping):
            raise InvalidJobError(f"rq_kwargs must be a dict, not {type(rq_kwargs).__name__}")
        unknown = sorted(set(rq_kwargs) - RQ_KWARGS)
        if unknown:
            raise InvalidJobError(
                f"Unsupported rq_kwargs key(s) {', '.join(map(repr, unknown))};"
                f" conveyor supports {', '.join(sorted(RQ_KWARGS))}"
            )
        for key, value in rq_kwargs.items():
            if value is None:
                continue
            if merged.get(key) is not None:
                raise InvalidJobError(f"{key!r} was given both as a keyword and in rq_kwargs")
            merged[key] = value
    return merged


def _retry_policy(value: Any, config: _config.Config) -> Retry | None:
    """The job's retry policy: given, RQ's ``Retry`` (duck-typed), or the configured default."""
    if value is None:
        if not config.retries:
            return None
        return Retry(max=config.retries, interval=config.retry_interval)
    if not isinstance(value, (Retry, int, Mapping)) and hasattr(value, "intervals"):
        return Retry(max=value.max, interval=list(value.intervals) or 0.0)  # rq.Retry
    return coerce_retry(value)


def _max_attempts(value: Any, policy: Retry | None, config: _config.Config) -> int:
    """Runs allowed in all: given, or enough for the retries and the crash budget."""
    if value is not None:
        return limits.check_count("max_attempts", value, 1, limits.MAX_ATTEMPTS)
    return max(config.max_attempts, policy.max + 1 if policy else 1)


def _worker_options(opts: Mapping[str, Any]) -> dict[str, Any]:
    """The worker-only options given, checked, by name (None counts as not given)."""
    return {
        name: check(opts[name])
        for name, check in _WORKER_OPTIONS.items()
        if opts.get(name) is not None
    }


@dataclass(frozen=True)
class _Defaults:
    """What a job given no options gets from its configuration, worked out once per config."""

    config: _config.Config
    timeout: int
    result_ttl: int
    failure_ttl: int
    max_attempts: int
    retry: Mapping[str, Any] | None

    @classmethod
    def of(cls, config: _config.Config) -> _Defaults:
        found = _defaults
        if found is not None and found.config is config:
            return found
        policy = _retry_policy(None, config)
        made = cls(
            config=config,
            timeout=limits.check_timeout(None, config.jobs_timeout),
            result_ttl=limits.check_ttl("result_ttl", None, config.result_ttl),
            failure_ttl=limits.check_ttl("failure_ttl", None, config.failure_ttl),
            max_attempts=_max_attempts(None, policy, config),
            retry=policy.to_dict() if policy else None,
        )
        _remember(made)
        return made


_defaults: _Defaults | None = None  # of the configuration used last (one is the usual case)


def _remember(defaults: _Defaults) -> None:
    global _defaults  # noqa: PLW0603 -- a one-entry cache; replacing it is atomic
    _defaults = defaults


def _plain_job(
    fn: Callable[..., Any] | str,
    args: Sequence[Any] | None,
    kwargs: Mapping[str, Any] | None,
    title: str | None,
    queue: str,
    config: _config.Config,
    now: float,
) -> NewJob:
    """build_job() for a call with no options (the usual one): the same job, checked the
    same way, with the configured defaults worked out once, not once per job."""
    defaults = _Defaults.of(config)
    limits.check_text("title", title)
    retry = defaults.retry
    return assemble(
        NewJob,
        {
            "id": new_job_id(),
            "queue": config.queue_prefix + check_queue_name(queue),
            "func": function_path(fn),
            "payload": serializer.dump_call(args, kwargs, config.serializer),
            "created_at": now,
            "timeout": defaults.timeout,
            "title": title,
            "description": None,
            "meta": {},
            "result_ttl": defaults.result_ttl,
            "failure_ttl": defaults.failure_ttl,
            "max_attempts": defaults.max_attempts,
            "retry": None if retry is None else dict(retry),
            "at_front": False,
            "run_at": None,
            "options": {},
        },
    )


def build_job(
    fn: Callable[..., Any] | str,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    title: str | None = None,
    queue: str = DEFAULT_QUEUE_NAME,
    rq_kwargs: Mapping[str, Any] | None = None,
    *,
    config: _config.Config,
    now: float,
    **options: Any,
) -> NewJob:
    """Validate one enqueue() call and build the job to store, or raise InvalidJobError."""
    if not options and rq_kwargs is None:
        return _plain_job(fn, args, kwargs, title, queue, config, now)
    opts = _options(rq_kwargs, options)
    if not opts.keys() <= _OPTIONS:
        unknown = sorted(set(opts) - _OPTIONS - _WORKER_OPTIONS.keys())
        if unknown:
            raise InvalidJobError(f"Unknown enqueue option(s): {', '.join(unknown)}")
    limits.check_text("title", title)
    job_id = opts.get("job_id")
    if job_id is None:
        job_id = new_job_id()
    elif not is_job_id(job_id):
        raise InvalidJobError(
            f"job_id {job_id!r} is not valid: use 1-128 letters, digits, '-' or '_'"
        )
    meta = opts.get("meta") or {}
    if not isinstance(meta, Mapping):
        raise InvalidJobError(f"meta must be a dict, not {type(meta).__name__}")
    if meta:
        serializer.check_json(dict(meta), "meta")
        limits.check_meta_text(meta)
    policy = _retry_policy(opts.get("retry"), config)
    description = limits.check_text("description", opts.get("description"))
    return assemble(
        NewJob,
        {
            "id": job_id,
            "queue": config.queue_prefix + check_queue_name(queue),
            "func": function_path(fn),
            "payload": serializer.dump_call(args, kwargs, config.serializer),
            "created_at": now,
            "timeout": limits.check_timeout(opts.get("timeout"), config.jobs_timeout),
            "title": title,
            "description": description,
            "meta": {k: v for k, v in meta.items() if k != "title"},
            "result_ttl": limits.check_ttl(
                "result_ttl", opts.get("result_ttl"), config.result_ttl
            ),
            "failure_ttl": limits.check_ttl(
                "failure_ttl", opts.get("failure_ttl"), config.failure_ttl
            ),
            "max_attempts": _max_attempts(opts.get("max_attempts"), policy, config),
            "retry": policy.to_dict() if policy else None,
            "at_front": limits.check_flag("at_front", opts.get("at_front")),
            "run_at": None,
            "options": _worker_options(opts) if _WORKER_OPTIONS else {},
        },
    )


def _log_enqueued(job: NewJob, queue: str) -> None:
    if job.run_at is not None:
        log.info(
            'Scheduled background job %s for %s UTC on queue "%s"',
            job.id,
            format_time(job.run_at),
            queue,
            extra={"job_id": job.id, "queue": queue, "title": job.title, "run_at": job.run_at},
        )
    elif job.title:
        log.info(
            'Added background job %s ("%s") to queue "%s"',
            job.id,
            job.title,
            queue,
            extra={"job_id": job.id, "queue": queue, "title": job.title},
        )
    else:
        log.info(
            'Added background job %s to queue "%s"',
            job.id,
            queue,
            extra={"job_id": job.id, "queue": queue},
        )


def _stored(job: NewJob, now: float, config: _config.Config) -> Job:
    state = JobState.QUEUED if job.run_at is None else JobState.SCHEDULED
    record = JobRecord.of(job, state=state, enqueued_at=now)
    return Job(record, config)


#: Called with (full queue name, function path) for each job stored by store().
enqueue_hooks: list[Callable[[str, str], None]] = []

#: What enqueue() does with the jobs it validated and built (all of one call).
Dispatch = Callable[[Sequence[NewJob], _config.Config, float], list[Job]]


def store(jobs: Sequence[NewJob], config: _config.Config, now: float) -> list[Job]:
    """Store built jobs as queued, all or none, and log them: the normal dispatch."""
    if jobs:
        backend(config).enqueue(jobs, now=now)
        for hook in enqueue_hooks:  # conveyor.metrics.count_enqueues(); empty unless asked
            for job in jobs:
                hook(job.queue, job.func)
    if log.isEnabledFor(logging.INFO):  # (building each line's extra costs, even unlogged)
        prefix = len(config.queue_prefix)
        for job in jobs:
            _log_enqueued(job, job.queue[prefix:])
    return [_stored(job, now, config) for job in jobs]


_dispatch: Dispatch = store


def use_dispatch(dispatch: Dispatch | None) -> Dispatch:
    """Send the jobs enqueue() builds to ``dispatch`` (None: :func:`store`); the previous one.

    The hook behind ``conveyor.testing.run_synchronously``, which runs jobs
    instead of storing them. It applies to the whole process, as a test
    double must when the code under test enqueues from another thread.
    """
    global _dispatch  # noqa: PLW0603 -- the process-wide enqueue hook
    previous = _dispatch
    _dispatch = dispatch or store
    return previous


def enqueue(
    fn: Callable[..., Any] | str,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    title: str | None = None,
    queue: str = DEFAULT_QUEUE_NAME,
    rq_kwargs: Mapping[str, Any] | None = None,
    **options: Any,
) -> Job:
    """Put a job on a queue: ``fn(*args, **kwargs)`` will run in a worker.

    ``fn`` is a module-level function (or its import path). ``options`` are
    ``timeout`` (seconds; default ``conveyor.jobs.timeout``; -1 for no
    limit), ``job_id``, ``at_front``, ``meta``, ``description``,
    ``result_ttl``, ``failure_ttl``, ``retry`` (a :class:`~conveyor.Retry`,
    a number of retries, or RQ's ``Retry``) and ``max_attempts``; the same
    keys are accepted inside ``rq_kwargs``, which is never modified. Anything that
    cannot be stored raises an InvalidJobError and stores nothing.
    """
    config = _config.current()
    now = time.time()
    job = build_job(fn, args, kwargs, title, queue, rq_kwargs, config=config, now=now, **options)
    return _dispatch([job], config, now)[0]


#: The name the reference's extensions use (``toolkit.enqueue_job``).
enqueue_job = enqueue


def enqueue_many(calls: Iterable[Mapping[str, Any]]) -> list[Job]:
    """Enqueue several jobs in one atomic step: all are stored, or none.

    Each item holds the arguments of one :func:`enqueue` call by name
    (``{"fn": f, "args": [...], "queue": "q", ...}``).
    """
    config = _config.current()
    now = time.time()
    jobs: list[NewJob] = []
    for index, call in enumerate(calls):
        if not isinstance(call, Mapping):
            raise InvalidJobError(
                f"Job {index} of enqueue_many() is a {type(call).__name__}, not a mapping of"
                " enqueue()'s arguments ({'fn': ..., 'args': [...], ...}); nothing was enqueued"
            )
        spec = dict(call)
        if "fn" not in spec:
            raise InvalidJobError(f"Job {index} of enqueue_many() has no 'fn'")
        jobs.append(build_job(config=config, now=now, **spec))
    return _dispatch(jobs, config, now)


# -- enqueueing for later ----------------------------------------------------------
def timestamp_of(when: Any) -> float:
    """Epoch seconds of a datetime (a naive one is local time, as RQ reads it)."""
    if not isinstance(when, dt.datetime):
        raise InvalidJobError(f"The time to run a job must be a datetime, not {when!r}")
    try:
        return when.timestamp()
    except (OverflowError, OSError, ValueError):  # datetime.min / max, local time
        raise InvalidJobError(f"{when!r} is out of the range of times a job can run at") from None


def seconds_of(delay: Any) -> float:
    """Seconds of a timedelta (or a number of seconds) to wait before a job runs."""
    if isinstance(delay, dt.timedelta):
        return delay.total_seconds()
    if isinstance(delay, (int, float)) and not isinstance(delay, bool) and math.isfinite(delay):
        return float(delay)
    raise InvalidJobError(f"A delay must be a timedelta or seconds, not {delay!r}")


def for_later(job: NewJob, run_at: float) -> NewJob:
    """``job``, to be stored as scheduled until ``run_at`` (checked: conveyor.limits)."""
    limits.check_run_at(run_at, job.created_at)
    return assemble(NewJob, {**job.__dict__, "run_at": run_at})


def enqueue_at(
    datetime: dt.datetime,
    fn: Callable[..., Any] | str,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    title: str | None = None,
    queue: str = DEFAULT_QUEUE_NAME,
    rq_kwargs: Mapping[str, Any] | None = None,
    **options: Any,
) -> Job:
    """:func:`enqueue`, for a job that runs at ``datetime`` (a naive one is local time).

    The job is stored at once as ``scheduled`` and becomes queued (at the
    back of its queue) when it is due; workers promote it, about a second
    late at most. A time in the past makes it due at once.
    """
    config = _config.current()
    now = time.time()
    run_at = timestamp_of(datetime)
    job = build_job(fn, args, kwargs, title, queue, rq_kwargs, config=config, now=now, **options)
    return _dispatch([for_later(job, run_at)], config, now)[0]


def enqueue_in(
    time_delta: dt.timedelta | float,
    fn: Callable[..., Any] | str,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    title: str | None = None,
    queue: str = DEFAULT_QUEUE_NAME,
    rq_kwargs: Mapping[str, Any] | None = None,
    **options: Any,
) -> Job:
    """:func:`enqueue`, for a job that runs after ``time_delta`` (a timedelta, or seconds)."""
    config = _config.current()
    now = time.time()
    run_at = now + seconds_of(time_delta)
    job = build_job(fn, args, kwargs, title, queue, rq_kwargs, config=config, now=now, **options)
    return _dispatch([for_later(job, run_at)], config, now)[0]


def dispatch(jobs: Sequence[NewJob], config: _config.Config, now: float) -> list[Job]:
    """Send built jobs where enqueue() sends them (the store, or a test's hook)."""
    return _dispatch(jobs, config, now)


# -- finding jobs ----------------------------------------------------------------
def job_from_id(id: str) -> Job:
    """This site's job with the given id; NoSuchJobError (a KeyError) if there is none."""
    config = _config.current()
    if not is_job_id(id):
        raise NoSuchJobError(str(id))
    record = backend(config).get(id)
    if record is None or not record.queue.startswith(config.queue_prefix):
        raise NoSuchJobError(id)
    return Job(record, config)


def wait_for_job(job: Job | str, timeout: float | None = None) -> Any:
    """Wait for a job (or the job with this id) to end; its result (see :meth:`Job.wait`)."""
    return (job if isinstance(job, Job) else job_from_id(job)).wait(timeout)


def test_job(*args: Any) -> None:
    """A job for trying a worker out: prints its arguments (``jobs test`` enqueues it)."""
    print(args, flush=True)


test_job.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
