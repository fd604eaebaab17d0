"""Configuration: declared keys, an .ini loader, environment overrides.

Every key is declared once in ``SETTINGS`` with its type and default, so a
malformed value is refused when the configuration is loaded (naming the file,
key and problem) rather than when a job happens to need it.

Precedence, highest first: ``CONVEYOR_*`` environment variables, the
``[conveyor]`` section, the ``[app:main]`` section (as in a CKAN ini), the
``CKAN_*`` environment variables CKAN honours (``CKAN_SITE_ID``,
``CKAN_REDIS_URL``), the CKAN fallback keys (``ckan.site_id``,
``ckan.jobs.timeout``, ``ckan.redis.url``), then the defaults.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from conveyor.exceptions import ConfigError

#: The database the embedded default uses when nothing is configured: a file
#: in the current working directory, so a producer and a worker started from
#: the same directory find the same jobs.
DEFAULT_SQLITE_FILE = "conveyor.sqlite3"
CONFIG_ENV = "CONVEYOR_CONFIG"
SECTIONS = ("conveyor", "app:main")
_SITE_ID = re.compile(r"^[^\s:]{1,100}$")
_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?$")


def _parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an integer") from None


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on", "t", "y"}:
        return True
    if lowered in {"0", "false", "no", "off", "f", "n", ""}:
        return False
    raise ValueError(f"{text!r} is not a boolean (use true or false)")


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = _parse_int(text)
        if value < minimum:
            raise ValueError(f"{value} is less than {minimum}")
        return value

    return parse


def _ttl(text: str) -> int:
    value = _parse_int(text)
    if value < -1:
        raise ValueError(f"{value} is not a TTL (seconds, 0 for none kept, -1 for forever)")
    return value


def _timeout(text: str) -> int:
    value = _parse_int(text)
    if value == 0 or value < -1:
        raise ValueError(f"{value} is not a timeout (seconds > 0, or -1 for no limit)")
    return value


def _grace(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= 3600:  # also refuses NaN
        raise ValueError(f"{text!r} is not a grace period (0 to 3600 seconds)")
    return value


def _intervals(text: str) -> tuple[float, ...]:
    parts = text.replace(",", " ").split()
    if not parts:
        raise ValueError("expected one or more delays in seconds, e.g. '10 30 60'")
    delays = []
    for part in parts:
        try:
            delay = float(part)
        except ValueError:
            raise ValueError(f"{part!r} is not a number of seconds") from None
        if not 0 <= delay < float("inf"):  # also refuses NaN
            raise ValueError(f"{part!r} is not a delay (seconds >= 0)")
        delays.append(delay)
    return tuple(delays)


def _site_id(text: str) -> str:
    value = text.strip()
    if not _SITE_ID.match(value):
        raise ValueError(f"{value!r} is not a site id (1-100 characters, no spaces or ':')")
    return value


def _import_path(text: str) -> str:
    value = text.strip()
    if value and not _IMPORT_PATH.match(value):
        raise ValueError(f"{value!r} is not an import path such as 'mypkg.jobs:setup'")
    return value


def _serializer(text: str) -> str:
    value = text.strip().lower()
    if value not in {"json", "pickle"}:
        raise ValueError(f"{value!r} is not a serializer (json or pickle)")
    return value


def _backend_url(text: str) -> str:
    value = text.strip()
    if "://" not in value:
        raise ValueError(f"{value!r} is not a backend URL such as sqlite:///conveyor.sqlite3")
    return value


def _log_level(text: str) -> str:
    value = text.strip().upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError(f"{text!r} is not a log level (DEBUG, INFO, WARNING, ERROR, CRITICAL)")
    return value


@dataclass(frozen=True)
class Setting:
    """One declared configuration key."""

    key: str
    attr: str
    parse: Callable[[str], Any]
    fallbacks: tuple[str, ...] = ()
    env_fallbacks: tuple[str, ...] = ()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "conveyor.backend",
        "backend",
        _backend_url,
        fallbacks=("ckan.redis.url",),
        env_fallbacks=("CKAN_REDIS_URL",),
    ),
    Setting("conveyor.site_id", "site_id", _site_id, ("ckan.site_id",), ("CKAN_SITE_ID",)),
    Setting("conveyor.serializer", "serializer", _serializer),
    Setting("conveyor.jobs.timeout", "jobs_timeout", _timeout, ("ckan.jobs.timeout",)),
    Setting("conveyor.jobs.timeout_grace", "timeout_grace", _grace),
    Setting(
        "conveyor.jobs.default_list_limit",
        "default_list_limit",
        _at_least(0),
        ("ckan.jobs.default_list_limit",),
    ),
    Setting("conveyor.jobs.result_ttl", "result_ttl", _ttl),
    Setting("conveyor.jobs.failure_ttl", "failure_ttl", _ttl),
    Setting("conveyor.jobs.max_attempts", "max_attempts", _at_least(1)),
    Setting("conveyor.jobs.retries", "retries", _at_least(0)),
    Setting("conveyor.jobs.retry_interval", "retry_interval", _intervals),
    Setting("conveyor.worker.concurrency", "worker_concurrency", _at_least(1)),
    Setting("conveyor.worker.lease", "worker_lease", _at_least(2)),
    Setting("conveyor.worker.max_jobs_per_child", "max_jobs_per_child", _at_least(0)),
    Setting("conveyor.worker.prefetch", "worker_prefetch", _at_least(0)),
    Setting("conveyor.worker.init", "worker_init", _import_path),
    Setting("conveyor.worker.before_fork", "worker_before_fork", _import_path),
    Setting("conveyor.worker.log_level", "worker_log_level", _log_level),
)
KNOWN_KEYS = {s.key for s in SETTINGS}


@dataclass(frozen=True)
class Config:
    """A loaded, validated configuration. Immutable; use :func:`override` to vary it."""

    backend: str = f"sqlite:///{DEFAULT_SQLITE_FILE}"
    site_id: str = "default"
    serializer: str = "json"
    jobs_timeout: int = 180
    default_list_limit: int = 200
    result_ttl: int = 86_400
    failure_ttl: int = 604_800
    max_attempts: int = 3
    retries: int = 0
    retry_interval: tuple[float, ...] = (0.0,)
    worker_concurrency: int = 1
    worker_lease: int = 30
    max_jobs_per_child: int = 0  # never recycle, as Celery and Dramatiq by default
    worker_prefetch: int = 32
    worker_init: str = ""
    worker_before_fork: str = ""
    worker_log_level: str = "INFO"
    #: Seconds a timed-out job gets to end after its JobTimeoutException, before it is killed.
    timeout_grace: float = 5.0
    #: The directory relative backend paths are resolved against.
    base_dir: Path = field(default_factory=Path.cwd)
    #: Where the values came from, for error messages.
    source: str = "defaults"

    @property
    def queue_prefix(self) -> str:
        """The prefix that isolates this site's queues from other sites' queues."""
        return f"conveyor:{self.site_id}:"


def _full_key_hint(short: str) -> str:
    """The declared key a short name most likely means."""
    for key in sorted(KNOWN_KEYS):
        if key.endswith("." + short):
            return key
    return "conveyor.backend"


def _read_ini(path: Path) -> dict[str, str]:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file {path} cannot be read: {exc}") from None
    except configparser.Error as exc:
        raise ConfigError(f"Config file {path} is malformed: {exc}") from None
    here = str(path.parent.resolve())
    values: dict[str, str] = {}
    for section in reversed(SECTIONS):  # [conveyor] read last, so it wins
        if not parser.has_section(section):
            continue
        for key, raw in parser.items(section):
            if key.startswith("conveyor.") and key not in KNOWN_KEYS:
                raise ConfigError(f"Config file {path}, [{section}]: unknown key {key!r}")
            if section == "conveyor" and not key.startswith(("conveyor.", "ckan.")):
                if key in parser.defaults():
                    continue
                raise ConfigError(
                    f"Config file {path}, [conveyor]: unknown key {key!r}"
                    f" (keys are written in full, e.g. {_full_key_hint(key)!r})"
                )
            values[key] = raw.replace("%(here)s", here)
    return values


def _env_name(key: str) -> str:
    return key.replace(".", "_").upper()


def _choose(
    setting: Setting, file_values: Mapping[str, str], env: Mapping[str, str]
) -> tuple[str, str] | None:
    """The raw text for a setting and where it came from, or None for the default."""
    env_name = _env_name(setting.key)
    if env_name in env:
        return env[env_name], f"environment variable {env_name}"
    if setting.key in file_values:
        return file_values[setting.key], f"key {setting.key}"
    # As in CKAN, a non-empty CKAN_* variable overrides the ckan.* key of the file.
    for name in setting.env_fallbacks:
        if env.get(name):
            return env[name], f"environment variable {name}"
    for name in setting.fallbacks:
        if name in file_values:
            return file_values[name], f"key {name}"
    return None


def load(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Config:
    """Load the configuration from an .ini file (optional) and the environment.

    Without ``path``, ``CONVEYOR_CONFIG`` names the file; without either, only
    the environment and the defaults apply.
    """
    env = os.environ if env is None else env
    if path is None and env.get(CONFIG_ENV):
        path = env[CONFIG_ENV]
    file_values: dict[str, str] = {}
    base_dir = Path.cwd()
    source = "defaults and environment"
    if path is not None:
        ini = Path(path)
        file_values = _read_ini(ini)
        base_dir = ini.parent.resolve()
        source = str(ini)
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        chosen = _choose(setting, file_values, env)
        if chosen is None:
            continue
        raw, origin = chosen
        try:
            values[setting.attr] = setting.parse(raw)
        except ValueError as exc:
            where = f"config file {source}, " if origin.startswith("key") else ""
            raise ConfigError(f"Invalid value in {where}{origin}: {exc}") from None
    return Config(base_dir=base_dir, source=source, **values)


_lock = threading.Lock()
_current: Config | None = None


def current() -> Config:
    """The configuration in force, loaded from the environment on first use."""
    global _current  # noqa: PLW0603 -- the process-wide configuration slot
    config = _current
    if config is None:
        with _lock:
            if _current is None:
                _current = load()
            config = _current
    return config


def configure(
    path: str | os.PathLike[str] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Config:
    """Load and install the process-wide configuration.

    ``settings`` maps declared keys (``"conveyor.jobs.timeout"``) to values
    that override the file and the environment; they are validated like any
    other value.
    """
    config = load(path)
    if settings:
        config = with_settings(config, settings)
    install(config)
    return config


def install(config: Config | None) -> None:
    """Make ``config`` the process-wide configuration (None: reload lazily)."""
    global _current  # noqa: PLW0603 -- the process-wide configuration slot
    with _lock:
        _current = config


def with_settings(config: Config, settings: Mapping[str, Any]) -> Config:
    """A copy of ``config`` with the given keys changed, each value validated."""
    by_key = {s.key: s for s in SETTINGS}
    changes: dict[str, Any] = {}
    for key, value in settings.items():
        setting = by_key.get(key)
        if setting is None:
            raise ConfigError(f"Unknown config key {key!r}")
        try:
            changes[setting.attr] = setting.parse(str(value))
        except ValueError as exc:
            raise ConfigError(f"Invalid value for {key}: {exc}") from None
    return replace(config, **changes)


@contextlib.contextmanager
def override(settings: Mapping[str, Any]) -> Iterator[Config]:
    """Temporarily change configuration keys (the reference's ``changed_config``)."""
    previous = current()
    changed = with_settings(previous, settings)
    install(changed)
    try:
        yield changed
    finally:
        install(previous)
