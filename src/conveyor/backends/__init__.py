"""Backends: choosing one from a URL, and one instance per process.

Backends are imported lazily, so an installation without the Redis or
PostgreSQL extra can still use SQLite; asking for a missing one names the
extra to install.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

from conveyor.backends.base import (
    Backend,
    Completion,
    ErrorInfo,
    JobRecord,
    JobState,
    MinuteStats,
    NewJob,
    Page,
    Recovery,
    WorkerInfo,
)
from conveyor.backends.urls import check_url, sqlite_location
from conveyor.exceptions import ConfigError, NoStoreError

__all__ = [
    "Backend",
    "Completion",
    "ErrorInfo",
    "JobRecord",
    "JobState",
    "MinuteStats",
    "NewJob",
    "Page",
    "Recovery",
    "WorkerInfo",
    "open_backend",
    "shared_backend",
]

log = logging.getLogger("conveyor.backends")

# scheme -> (module, class name, extra that provides its driver)
_REGISTRY: dict[str, tuple[str, str, str | None]] = {
    "sqlite": ("conveyor.backends.sqlite", "SQLiteBackend", None),
    "redis": ("conveyor.backends.redis", "RedisBackend", "redis"),
    "rediss": ("conveyor.backends.redis", "RedisBackend", "redis"),
    "unix": ("conveyor.backends.redis", "RedisBackend", "redis"),
    "postgresql": ("conveyor.backends.postgresql", "PostgreSQLBackend", "postgresql"),
    "postgres": ("conveyor.backends.postgresql", "PostgreSQLBackend", "postgresql"),
}


def store_missing(url: str, base_dir: Path | None = None) -> Path | None:
    """The SQLite file ``url`` names if it does not exist yet; None if the store may exist.

    Only an SQLite store can be looked for without being created; a server
    (Redis, PostgreSQL) is assumed to exist.
    """
    if urlsplit(check_url(url)).scheme.lower() != "sqlite":
        return None
    path = sqlite_location(url, base_dir).path
    return None if path.exists() else path


def open_backend(url: str, base_dir: Path | None = None, *, create: bool = True) -> Backend:
    """A new backend instance for ``url``; relative SQLite paths resolve against ``base_dir``.

    With ``create=False`` an SQLite file that does not exist is not created:
    NoStoreError names the path instead.
    """
    missing = store_missing(url, base_dir)
    if missing is not None and not create:
        raise NoStoreError(f"There is no job store at {missing}")
    scheme = urlsplit(check_url(url)).scheme.lower()
    module_name, class_name, extra = _REGISTRY[scheme]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if extra is None or exc.name == module_name:
            if exc.name == module_name:
                raise ConfigError(f"The {scheme} backend is not available yet") from None
            raise
        raise ConfigError(
            f"The {scheme} backend needs the '{extra}' extra: pip install 'conveyor[{extra}]'"
        ) from None
    backend_class: type[Backend] = getattr(module, class_name)
    opened = backend_class.from_url(url, base_dir=base_dir)
    if missing is not None:  # said once, so a store made in the wrong place is noticed
        log.info("Created a new job store at %s", missing, extra={"store": str(missing)})
    return opened


_lock = threading.Lock()
_cache: dict[tuple[str, str], Backend] = {}
_cache_pid = os.getpid()


def shared_backend(url: str, base_dir: Path, *, create: bool = True) -> Backend:
    """This process's backend for ``url``, opened on first use (see open_backend's ``create``).

    The cache belongs to one process: after a fork the child opens its own
    connections and never touches the parent's.
    """
    global _cache_pid  # noqa: PLW0603 -- per-process cache, reset after fork
    key = (url, str(base_dir))
    with _lock:
        if _cache_pid != os.getpid():
            _cache.clear()
            _cache_pid = os.getpid()
        backend = _cache.get(key)
        if backend is None:
            backend = _cache[key] = open_backend(url, base_dir, create=create)
        return backend


def close_shared() -> None:
    """Close this process's cached backends (tests and shutdown use it)."""
    with _lock:
        backends = list(_cache.values()) if _cache_pid == os.getpid() else []
        _cache.clear()
    for backend in backends:
        backend.close()


def _forget_after_fork() -> None:
    # The child must not close (or use) the parent's connections: drop them.
    # A lock held by another thread at fork time stays held in the child: replace it.
    global _cache_pid, _lock  # noqa: PLW0603 -- per-process cache, reset after fork
    _lock = threading.Lock()
    _cache.clear()
    _cache_pid = os.getpid()


os.register_at_fork(after_in_child=_forget_after_fork)
