"""Jobs named by string, for code ported from Celery.

conveyor names a job function by its import path, so no registration is
needed. Code written for Celery names its tasks instead; these two functions
let it keep those names::

    import conveyor

    @conveyor.task(name="my_extension.echofunction")
    def echo(message):
        print(message)

    conveyor.send_task("my_extension.echofunction", args=["Hello World"])
    conveyor.enqueue("my_extension.echofunction", ["Hello World"])  # the same

The decorator returns the function unchanged. A name is resolved when the
job is enqueued, and the stored job holds the function's import path: a
worker needs no registry, only the module. An unknown name is refused at
enqueue time with the closest registered names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, overload

from conveyor.api import DEFAULT_QUEUE_NAME, enqueue
from conveyor.exceptions import InvalidJobError
from conveyor.functions import declared_path, register_task, task_names
from conveyor.job import Job

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["registered_tasks", "send_task", "task"]


@overload
def task(fn: F, *, name: str | None = None) -> F: ...


@overload
def task(fn: str | None = None, *, name: str | None = None) -> Callable[[F], F]: ...


def task(fn: F | str | None = None, *, name: str | None = None) -> F | Callable[[F], F]:
    """Register a job function under ``name`` (default: ``module.qualname``).

    Usable bare (``@task``) or with a name (``@task(name="ext.echo")`` or
    ``@task("ext.echo")``), as Celery's. The function must be importable by
    its own path (a module-level function); naming a second function with a
    name that is taken is a ConfigError.
    """
    if isinstance(fn, str):
        if name is not None:
            raise TypeError("task() got the name twice")
        fn, name = None, fn

    def register(function: F) -> F:
        register_task(name if name is not None else _default_name(function), function)
        return function

    if fn is not None:
        return register(fn)
    return register


def _default_name(fn: Callable[..., Any]) -> str:
    """Celery's default task name: the dotted import path."""
    return declared_path(fn).replace(":", ".")


def send_task(
    name: str,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    task_id: str | None = None,
    queue: str = DEFAULT_QUEUE_NAME,
    **options: Any,
) -> Job:
    """Enqueue the task registered as ``name``: Celery's ``send_task``, returning a Job.

    ``task_id`` becomes the job id; ``options`` are :func:`~conveyor.enqueue`'s
    (``title``, ``timeout``, ``retry`` ...). Celery options conveyor does
    not have (``countdown``, ``eta`` ...) are refused rather than ignored.
    """
    if not isinstance(name, str):
        raise InvalidJobError(
            f"send_task() takes a task name, not {type(name).__name__};"
            " to enqueue a function, use conveyor.enqueue(fn, ...)"
        )
    if task_id is not None:
        if "job_id" in options:
            raise InvalidJobError("Give task_id or job_id, not both")
        options["job_id"] = task_id
    return enqueue(name, args, kwargs, queue=queue, **options)


def registered_tasks() -> dict[str, str]:
    """Every registered task name, with the import path its jobs are stored under."""
    return task_names()
