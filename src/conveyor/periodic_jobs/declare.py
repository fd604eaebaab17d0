"""Declaring periodic jobs: in code (a decorator, or a call) and in the config file.

Declarations made in code go to a process-wide registry when their module is
imported; a worker imports the modules named by ``conveyor.periodic.modules``
first. The config file declares one job per ``[conveyor:periodic:NAME]``
section. Both kinds are checked when they are declared, and a name declared
twice with different settings is refused.
"""

from __future__ import annotations

import importlib
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from conveyor import config as _config
from conveyor.api import check_queue_name
from conveyor.exceptions import ConfigError, ConveyorError, PeriodicJobError
from conveyor.functions import declared_path
from conveyor.periodic_jobs.schedule import Cron, Every, Schedule, interval_seconds

F = TypeVar("F", bound=Callable[..., Any])

#: What happens to ticks that passed while no worker was running.
MISSED_POLICIES = ("latest", "skip")
#: With ``missed="skip"``, a tick taken later than this after its time is skipped.
SKIP_AFTER = 60.0
_PATH = re.compile(r"^[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?$")
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
_SECTION = "conveyor:periodic:"
#: The keys of a [conveyor:periodic:NAME] section.
_KEYS = frozenset(
    [
        "function",
        "cron",
        "every",
        "timezone",
        "args",
        "kwargs",
        "queue",
        "timeout",
        "title",
        "missed",
    ]
)


@dataclass(frozen=True)
class PeriodicJob:
    """One periodic job: what runs, on which schedule, on which queue.

    ``name`` identifies it on this site (in the store, the CLI and logs).
    ``missed`` is what happens to ticks that passed while no worker ran:
    ``"latest"`` (the default) runs the latest of them once, ``"skip"`` runs
    none (a tick taken more than :data:`SKIP_AFTER` seconds late is skipped).
    """

    name: str
    schedule: Schedule
    func: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    queue: str = "default"
    timeout: int | str | None = None
    title: str | None = None
    missed: str = "latest"


_registry: dict[str, PeriodicJob] = {}
_lock = threading.Lock()


def _schedule(cron: str | None, every: object, tz: str) -> Schedule:
    if (cron is None) == (every is None):
        raise PeriodicJobError("Give a periodic job exactly one of cron= and every=")
    if cron is not None:
        return Cron(cron, tz)
    if tz != "UTC":
        raise PeriodicJobError(
            "tz= applies to cron schedules only; intervals count from the epoch"
        )
    return Every(interval_seconds(every))


def _function(fn: Callable[..., Any] | str) -> str:
    """The job function's import path, checked without importing it.

    A decorator runs before its module has bound the function, and the CLI
    may list jobs whose modules it cannot import: a worker imports the
    function when it starts, and refuses to start if it cannot.
    """
    if isinstance(fn, str):
        if not _PATH.match(fn):
            raise PeriodicJobError(
                f"Periodic job function {fn!r} is not an import path such as 'pkg.jobs:report'"
            )
        return fn
    try:
        return declared_path(fn)
    except ConveyorError as exc:
        raise PeriodicJobError(f"Periodic job function: {exc}") from None


def make(
    fn: Callable[..., Any] | str,
    *,
    name: str | None = None,
    cron: str | None = None,
    every: int | timedelta | str | None = None,
    tz: str = "UTC",
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    queue: str = "default",
    timeout: int | str | None = None,
    title: str | None = None,
    missed: str = "latest",
) -> PeriodicJob:
    """A checked :class:`PeriodicJob` (PeriodicJobError says what is wrong)."""
    func = _function(fn)
    name = func if name is None else name
    if not isinstance(name, str) or not _NAME.match(name):
        raise PeriodicJobError(
            f"Periodic job name {name!r} is not valid: use 1-200 letters, digits, '_', '.', ':'"
            " or '-'"
        )
    if missed not in MISSED_POLICIES:
        raise PeriodicJobError(f"missed must be one of {', '.join(MISSED_POLICIES)}: {missed!r}")
    if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        raise PeriodicJobError(f"args must be a list or tuple, not {type(args).__name__}")
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise PeriodicJobError(f"kwargs must be a dict, not {type(kwargs).__name__}")
    try:
        check_queue_name(queue)
    except ConveyorError as exc:
        raise PeriodicJobError(str(exc)) from None
    return PeriodicJob(
        name=name,
        schedule=_schedule(cron, every, tz),
        func=func,
        args=tuple(args),
        kwargs=dict(kwargs or {}),
        queue=queue,
        timeout=timeout,
        title=title,
        missed=missed,
    )


def add(job: PeriodicJob) -> PeriodicJob:
    """Put ``job`` in the registry; the same declaration twice is fine, a different one not."""
    with _lock:
        known = _registry.get(job.name)
        if known is not None and known != job:
            raise PeriodicJobError(
                f"A different periodic job named {job.name!r} is declared already"
            )
        _registry[job.name] = job
    return job


def remove(name: str) -> bool:
    """Take a declaration out of this process's registry (for tests); whether it was there."""
    with _lock:
        return _registry.pop(name, None) is not None


def registered() -> dict[str, PeriodicJob]:
    """The jobs declared in code in this process, by name."""
    with _lock:
        return dict(_registry)


def register_periodic(fn: Callable[..., Any] | str, **options: Any) -> PeriodicJob:
    """Declare that ``fn`` runs periodically; the options are :func:`periodic`'s."""
    return add(make(fn, **options))


def periodic(
    cron: str | None = None,
    *,
    every: int | timedelta | str | None = None,
    name: str | None = None,
    tz: str = "UTC",
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    queue: str = "default",
    timeout: int | str | None = None,
    title: str | None = None,
    missed: str = "latest",
) -> Callable[[F], F]:
    """Declare the decorated function a periodic job, on a cron schedule or an interval.

    ``cron`` is a cron expression read in the time zone ``tz``; ``every`` an
    interval (seconds, a ``timedelta``, or ``'30s'``, ``'5m'``, ``'1h'``,
    ``'1d'``). The job's name defaults to the function's import path.
    """

    def decorate(fn: F) -> F:
        register_periodic(
            fn,
            cron=cron,
            every=every,
            name=name,
            tz=tz,
            args=args,
            kwargs=kwargs,
            queue=queue,
            timeout=timeout,
            title=title,
            missed=missed,
        )
        return fn

    return decorate


# -- the config file ----------------------------------------------------------------
def _json(where: str, key: str, text: str, kind: type) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: {key} is not valid JSON: {exc}") from None
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: {key} must be a JSON {kind.__name__}, not {text!r}")
    return value


def _timeout(text: str | None) -> int | str | None:
    """Whole seconds as an int; other forms (``'1h'``) are left to enqueue's checks."""
    if text is None:
        return None
    text = text.strip()
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def from_section(name: str, values: Mapping[str, str], source: str) -> PeriodicJob:
    """The job of one ``[conveyor:periodic:NAME]`` section (ConfigError says what is wrong)."""
    where = f"Config file {source}, [{_SECTION}{name}]"
    unknown = sorted(set(values) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    if not values.get("function", "").strip():
        raise ConfigError(f"{where}: function is required (an import path such as 'pkg.mod:fn')")
    timeout = values.get("timeout")
    try:
        return make(
            values["function"].strip(),
            name=name,
            cron=values.get("cron"),
            every=values["every"].strip() if "every" in values else None,
            tz=values.get("timezone", "UTC").strip(),
            args=_json(where, "args", values["args"], list) if "args" in values else (),
            kwargs=_json(where, "kwargs", values["kwargs"], dict) if "kwargs" in values else None,
            queue=values.get("queue", "default").strip(),
            timeout=_timeout(timeout),
            title=values.get("title"),
            missed=values.get("missed", "latest").strip(),
        )
    except (PeriodicJobError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def configured(config: _config.Config) -> dict[str, PeriodicJob]:
    """The jobs the config file declares, by name."""
    return {
        name: from_section(name, dict(values), config.source)
        for name, values in config.periodic_sections
    }


def declared(config: _config.Config | None = None) -> dict[str, PeriodicJob]:
    """Every periodic job this process knows: the config file's and those declared in code.

    The modules named by ``conveyor.periodic.modules`` are imported first, so
    their decorators have run.
    """
    config = config or _config.current()
    for module in config.periodic_modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(
                f"conveyor.periodic.modules: cannot import {module!r}: {exc}"
            ) from None
    jobs = registered()
    for name, job in configured(config).items():
        if name in jobs and jobs[name] != job:
            raise ConfigError(
                f"Periodic job {name!r} is declared both in code and in {config.source},"
                " differently"
            )
        jobs[name] = job
    return dict(sorted(jobs.items()))
