"""Naming job functions by import path, and importing them back.

A stored job names its function as ``module:qualname``. enqueue() checks, in
the producer, that a worker could import the function by that name: lambdas,
nested functions, bound methods of instances and functions of ``__main__``
are refused there, not discovered broken in the worker.

A function can also be registered under a name (``conveyor.task``, for code
ported from Celery). A name is looked up before it is read as an import path,
and the stored job holds the function's import path, so workers need no
registry.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from conveyor.exceptions import ConfigError, FunctionNotImportable, JobImportError

_names: dict[Callable[..., Any], str] = {}
_names_lock = threading.Lock()
_CACHE_MAX = 4096
# Task name -> the function registered under it (conveyor.task); guarded by _names_lock.
_tasks: dict[str, Callable[..., Any]] = {}


def _splits(path: str) -> list[tuple[str, str]]:
    """The ways to read ``path`` as (module, qualname), the longest module first."""
    module_name, sep, qualname = path.partition(":")
    if sep:
        splits = [(module_name, qualname)]
    else:  # "pkg.mod.func" or "pkg.mod.Class.method": where the module ends is unknown
        parts = path.split(".")
        splits = [(".".join(parts[:i]), ".".join(parts[i:])) for i in range(len(parts) - 1, 0, -1)]
    if not splits or not splits[0][0] or not splits[0][1]:
        raise FunctionNotImportable(
            f"{path!r} is not an import path such as 'mypackage.jobs:send_email'"
        )
    return splits


def _import_module(path: str) -> tuple[Any, str, str]:
    """The module ``path`` starts with, and the (module, qualname) split that found it."""
    splits = _splits(path)
    for module_name, qualname in splits:
        try:
            return importlib.import_module(module_name), module_name, qualname
        except ModuleNotFoundError as exc:
            if exc.name == module_name and (module_name, qualname) != splits[-1]:
                continue  # not a module: perhaps a class, try the shorter module path
            raise FunctionNotImportable(f"Cannot import module {module_name!r}: {exc}") from None
        except ImportError as exc:
            raise FunctionNotImportable(f"Cannot import module {module_name!r}: {exc}") from None
    raise AssertionError("unreachable: the last split always returns or raises")


def _resolve(path: str) -> tuple[str, str, Callable[..., Any]]:
    """(module, qualname, callable) for ``module:qualname`` or a dotted path."""
    target, module_name, qualname = _import_module(path)
    for part in qualname.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise FunctionNotImportable(
                f"Module {module_name!r} has no attribute {qualname!r}"
            ) from None
    if not callable(target):
        raise FunctionNotImportable(f"{path!r} names a {type(target).__name__}, not a function")
    return module_name, qualname, target


def import_function(path: str) -> Callable[..., Any]:
    """The callable named ``module:qualname`` (or ``module.name``, ``module.Class.name``)."""
    return _resolve(path)[2]


def import_job_function(path: str) -> Callable[..., Any]:
    """``import_function`` in a worker: a failure says where the worker looked."""
    try:
        return import_function(path)
    except FunctionNotImportable as exc:
        raise JobImportError(
            f"{exc} (job function {path!r}; worker's working directory {os.getcwd()};"
            f" import path {sys.path}). Start the worker in the project's directory,"
            " or give --path / conveyor.worker.path"
        ) from None


def register_task(name: str, fn: Callable[..., Any]) -> str:
    """Register ``fn`` under the task ``name``; its import path.

    Registering a name again for the same function (the same import path,
    as after a module reload) is allowed; for another function it is a
    ConfigError. Only what could never be imported is refused here: the
    function is not yet bound in its module while its decorator runs, so
    importing it is checked when a job is enqueued.
    """
    if not isinstance(name, str) or not name.strip() or not name.isprintable():
        raise ConfigError(f"A task name must be a non-blank, printable string, not {name!r}")
    path = declared_path(fn)
    with _names_lock:
        known = _tasks.get(name)
        if known is not None and known is not fn and declared_path(known) != path:
            raise ConfigError(
                f"Task name {name!r} is registered already for {declared_path(known)};"
                f" it cannot also name {path}"
            )
        _tasks[name] = fn
    return path


def task_names() -> dict[str, str]:
    """Every registered task name, with the import path of its function."""
    with _names_lock:
        return {name: declared_path(fn) for name, fn in sorted(_tasks.items())}


def _path_of_name(name: str) -> str:
    """The import path of a task name or an import path given as a string."""
    with _names_lock:
        registered = _tasks.get(name)
    if registered is not None:
        return function_path(registered)
    try:
        module_name, qualname, _ = _resolve(name)
    except FunctionNotImportable as exc:
        raise FunctionNotImportable(_unknown_name(name, exc)) from None
    return f"{module_name}:{qualname}"


def _unknown_name(name: str, exc: FunctionNotImportable) -> str:
    with _names_lock:
        known = sorted(_tasks)
    message = f"{name!r} is not a registered task name, nor an importable function ({exc})"
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if close:
        message += f". Did you mean {' or '.join(map(repr, close))}?"
    elif known:
        message += f". Registered task names: {', '.join(map(repr, known[:10]))}"
        if len(known) > 10:
            message += f" and {len(known) - 10} more"
    return message


def function_path(fn: Callable[..., Any] | str) -> str:
    """The import path a worker will use to find ``fn``; refuses what it could not.

    A string is a registered task name or an import path (``module:qualname``
    or dotted), in that order.
    """
    if isinstance(fn, str):
        return _path_of_name(fn)
    try:
        return _names[fn]
    except (KeyError, TypeError):
        pass
    path = _path_of(fn)
    try:
        with _names_lock:
            if len(_names) >= _CACHE_MAX:
                _names.clear()
            _names[fn] = path
    except TypeError:  # unhashable callable
        pass
    return path


def declared_path(fn: Callable[..., Any]) -> str:
    """The import path ``fn`` claims (``module:qualname``), without importing it.

    Refuses what no worker could ever import: lambdas, nested functions,
    methods bound to instances and functions of ``__main__``.
    """
    if not callable(fn):
        raise FunctionNotImportable(f"{fn!r} is not callable")
    if inspect.ismethod(fn) and not inspect.isclass(fn.__self__):
        raise FunctionNotImportable(
            f"{fn.__qualname__} is a method bound to an instance; a worker cannot import"
            " the instance. Use a module-level function."
        )
    module_name = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module_name or not qualname:
        raise FunctionNotImportable(
            f"{fn!r} has no module and name to import it by; use a module-level function"
        )
    if "<lambda>" in qualname or "<locals>" in qualname:
        kind = "a lambda" if "<lambda>" in qualname else "a nested function"
        raise FunctionNotImportable(
            f"{module_name}.{qualname} is {kind}; a worker cannot import it."
            " Use a module-level function."
        )
    if module_name == "__main__":
        raise FunctionNotImportable(
            f"{qualname} is defined in __main__, which a worker cannot import;"
            " move it into an importable module"
        )
    return f"{module_name}:{qualname}"


def _path_of(fn: Callable[..., Any]) -> str:
    path = declared_path(fn)
    found = import_function(path)
    if found is not fn and found != fn:
        raise FunctionNotImportable(
            f"{path} does not name {fn!r} (it was replaced or shadowed in its module)"
        )
    return path
