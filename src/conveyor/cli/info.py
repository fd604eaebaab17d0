"""``conveyor info``: the configuration in force and the store it points at.

Also the guard of the read-only commands: they open the store without
creating it, so a command run from the wrong directory says where it looked
instead of answering from a new, empty store.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from conveyor import config as _config
from conveyor import manage
from conveyor.api import backend
from conveyor.backends import JobState, store_missing
from conveyor.backends.urls import redact, sqlite_location
from conveyor.cli.text import escape
from conveyor.exceptions import BackendError

F = TypeVar("F", bound=Callable[..., Any])
_STATES = [state.value for state in JobState]


def require_store() -> None:
    """Open the store without creating it: NoStoreError, naming the path, if it is missing.

    The store stays open (one per process), so the management functions
    called next use it and do not create another.
    """
    backend(create=False)


def reads_store(command: F) -> F:
    """Run :func:`require_store` before ``command``: for commands that only read or delete."""

    @functools.wraps(command)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        require_store()
        return command(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def store_text(config: _config.Config) -> str:
    """The store's URL without its password, and for SQLite the file it resolves to."""
    shown = redact(config.backend)
    if config.backend.lower().startswith("sqlite:"):
        shown += f" (file {sqlite_location(config.backend, config.base_dir).path})"
    return shown


def describe(config: _config.Config) -> dict[str, Any]:
    """What ``conveyor info`` shows, as data."""
    missing = store_missing(config.backend, config.base_dir)
    found: dict[str, Any] = {
        "config_file": str(config.config_file) if config.config_file else None,
        "config_source": _config.describe_source(config),
        "store": redact(config.backend),
        "store_file": None,
        "store_exists": missing is None,
        "site_id": config.site_id,
        "serializer": config.serializer,
        "default_timeout": config.jobs_timeout,
        "queues": None,
        "workers": None,
        "store_error": None,
    }
    if config.backend.lower().startswith("sqlite:"):
        found["store_file"] = str(sqlite_location(config.backend, config.base_dir).path)
    if missing is None:
        try:
            backend(config, create=False)
            found["queues"] = manage.queue_list()
            found["workers"] = manage.worker_list()
        except BackendError as exc:
            found["store_error"] = str(exc)
    return found


def _lines(found: dict[str, Any], config: _config.Config) -> list[str]:
    lines = [
        f"Config file: {found['config_file'] or 'none'}",
        f"             ({found['config_source']})",
        f"Store:       {store_text(config)}",
    ]
    if not found["store_exists"]:
        lines.append("             does not exist yet: a worker or the first enqueue creates it")
    if found["store_error"]:
        lines.append(f"             cannot be read: {escape(found['store_error'])}")
    lines += [
        f"Site id:     {found['site_id']}",
        f"Timeout:     {found['default_timeout']} s by default",
    ]
    if found["queues"] is not None:
        lines.append(f"Queues:      {len(found['queues'])}")
        for queue in found["queues"]:
            counts = " ".join(f"{state}={queue[state]}" for state in _STATES)
            lines.append(f"  {escape(queue['name'])} {counts}")
    if found["workers"] is not None:
        lines.append(f"Workers:     {len(found['workers'])} live")
        for worker in found["workers"]:
            queues = ", ".join(escape(name) for name in worker["queues"])
            lines.append(
                f"  {escape(worker['key'])} {escape(worker['host'])}:{worker['pid']}"
                f" {worker['state']} queues {queues}"
            )
    return lines


@click.command(short_help="Show the configuration in force and its store.")
@click.option("--json", "as_json", is_flag=True, help="Print the same as a JSON object.")
def info(as_json: bool) -> None:
    """Show the configuration in force: which config file was read (and how it
    was found), the job store it points at (password hidden; for SQLite the
    file), the site id, the default timeout, this site's queues with their
    number of jobs in each state, and the live workers.

    Creates nothing: if the store does not exist yet, it says so. Exits
    with status 1 if the store exists but cannot be read (unreachable).
    """
    config = _config.current()
    found = describe(config)
    if as_json:
        click.echo(json.dumps(found, indent=2))
    else:
        for line in _lines(found, config):
            click.echo(line)
    if found["store_error"]:
        raise SystemExit(1)
