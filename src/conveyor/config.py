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

from conveyor import limits
from conveyor.backends.urls import check_url
from conveyor.exceptions import ConfigError, InvalidJobError

#: The database the embedded default uses when nothing is configured: a file
#: in the directory of the config file (the project's root, see find_config),
#: or in the working directory when there is no config file.
DEFAULT_SQLITE_FILE = "conveyor.sqlite3"
CONFIG_ENV = "CONVEYOR_CONFIG"
#: The file looked for in the working directory and its parents when no
#: config file is given: it marks the project's root.
CONFIG_FILE_NAME = "conveyor.ini"
SECTIONS = ("conveyor", "app:main")
#: Bounds of the worker keys (the job keys' bounds are in conveyor.limits).
MAX_CONCURRENCY = 1_024
MAX_LEASE = 86_400
MAX_JOBS_PER_CHILD = 10**9
MAX_PREFETCH = 100_000
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


def _int_range(minimum: int, maximum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = _parse_int(text)
        if not minimum <= value <= maximum:
            raise ValueError(f"{value} is not between {minimum} and {maximum}")
        return value

    return parse


def _checked(check: Callable[..., Any], *args: Any) -> Any:
    """Run one of conveyor.limits' checks, turning its error into the ValueError load() reports."""
    try:
        return check(*args)
    except InvalidJobError as exc:
        raise ValueError(str(exc)) from None


def _ttl(text: str) -> int:
    value = _parse_int(text)
    return int(_checked(limits.check_ttl, "the TTL", value, 0))


def _timeout(text: str) -> int:
    seconds = int(_checked(limits.check_timeout, text, 0))
    if seconds == 0:
        raise ValueError(f"{text.strip()!r} is not a timeout (seconds > 0, or -1 for no limit)")
    return seconds


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
    if len(parts) > limits.MAX_INTERVALS:
        raise ValueError(f"more than {limits.MAX_INTERVALS} delays")
    delays = []
    for part in parts:
        try:
            delay = float(part)
        except ValueError:
            raise ValueError(f"{part!r} is not a number of seconds") from None
        delays.append(_checked(limits.check_seconds, "a delay", delay))
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
    try:
        return check_url(value)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def _log_level(text: str) -> str:
    value = text.strip().upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError(f"{text!r} is not a log level (DEBUG, INFO, WARNING, ERROR, CRITICAL)")
    return value


def _dirs(text: str) -> tuple[str, ...]:
    # One directory a line, or several joined by os.pathsep as in PYTHONPATH.
    return tuple(d.strip() for d in re.split(f"[\n{re.escape(os.pathsep)}]", text) if d.strip())


def _worker_name(text: str) -> str:
    value = text.strip()
    if not value.isprintable() or len(value) > 100:
        raise ValueError(f"{text!r} is not a worker name (printable, at most 100 characters)")
    return value


def _log_format(text: str) -> str:
    value = text.strip().lower()
    if value not in {"text", "json"}:
        raise ValueError(f"{text!r} is not a log format (text or json)")
    return value


def _modules(text: str) -> tuple[str, ...]:
    names = tuple(text.replace(",", " ").split())
    for name in names:
        if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", name):
            raise ValueError(f"{name!r} is not a module name such as 'myapp.jobs'")
    return names


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
        _int_range(0, limits.MAX_LIST_LIMIT),
        ("ckan.jobs.default_list_limit",),
    ),
    Setting("conveyor.jobs.result_ttl", "result_ttl", _ttl),
    Setting("conveyor.jobs.failure_ttl", "failure_ttl", _ttl),
    Setting("conveyor.jobs.max_attempts", "max_attempts", _int_range(1, limits.MAX_ATTEMPTS)),
    Setting("conveyor.jobs.retries", "retries", _int_range(0, limits.MAX_RETRIES)),
    Setting("conveyor.jobs.retry_interval", "retry_interval", _intervals),
    Setting("conveyor.worker.concurrency", "worker_concurrency", _int_range(1, MAX_CONCURRENCY)),
    Setting("conveyor.worker.lease", "worker_lease", _int_range(2, MAX_LEASE)),
    Setting(
        "conveyor.worker.max_jobs_per_child",
        "max_jobs_per_child",
        _int_range(0, MAX_JOBS_PER_CHILD),
    ),
    Setting("conveyor.worker.prefetch", "worker_prefetch", _int_range(0, MAX_PREFETCH)),
    Setting("conveyor.worker.init", "worker_init", _import_path),
    Setting("conveyor.worker.before_fork", "worker_before_fork", _import_path),
    Setting("conveyor.worker.log_level", "worker_log_level", _log_level),
    Setting("conveyor.worker.path", "worker_path", _dirs),
    Setting("conveyor.worker.name", "worker_name", _worker_name),
    Setting("conveyor.log_format", "log_format", _log_format),
    Setting("conveyor.periodic.modules", "periodic_modules", _modules),
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
    worker_prefetch: int = 128
    worker_init: str = ""
    worker_before_fork: str = ""
    worker_log_level: str = "INFO"
    worker_path: tuple[str, ...] = ()  # more directories to import job functions from
    worker_name: str = ""  # how worker log lines name it; "" for host.pid
    log_format: str = "text"  # or "json": one object per line
    #: Seconds a timed-out job gets to end after its JobTimeoutException, before it is killed.
    timeout_grace: float = 5.0
    #: Modules a worker imports for the periodic jobs they declare in code.
    periodic_modules: tuple[str, ...] = ()
    #: Each ``[conveyor:periodic:NAME]`` section as (NAME, its raw (key, value)
    #: pairs), read by :mod:`conveyor.periodic_jobs`; tuples keep Config hashable.
    periodic_sections: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    #: The directory relative backend paths are resolved against.
    base_dir: Path = field(default_factory=Path.cwd)
    #: Where the values came from, for error messages.
    source: str = "defaults"
    #: The config file read (absolute), if any, and how it was chosen: "given"
    #: (``-c`` or ``CONVEYOR_CONFIG``), "found" (a ``conveyor.ini`` in the
    #: working directory or above) or "none".
    config_file: Path | None = None
    config_origin: str = "none"

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


def _first_line(lines: list[str], section: str, option: str | None) -> int | None:
    """The line number (from 1) where ``section`` (or ``option`` in it) first appears."""
    current = None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;" or line[0].isspace():
            continue
        if stripped.startswith("[") and "]" in stripped:
            current = stripped[1 : stripped.index("]")]
            if option is None and current == section:
                return number
            continue
        key = re.split(r"[=:]", stripped, maxsplit=1)[0].strip()
        if option is not None and current == section and key == option:
            return number
    return None


def _duplicate(path: Path, text: str, exc: configparser.Error) -> ConfigError:
    """The error for a section or key given twice, naming both lines."""
    section = getattr(exc, "section", "?")
    option = getattr(exc, "option", None)
    first = _first_line(text.splitlines(), section, option)
    what = f"key {option!r} in section [{section}]" if option else f"section [{section}]"
    return ConfigError(
        f"Config file {path} is malformed: {what} appears twice, on lines {first}"
        f" and {getattr(exc, 'lineno', '?')}"
    )


def _parse_ini(path: Path) -> configparser.RawConfigParser:
    """The file parsed strictly: a section or key given twice is an error."""
    parser = configparser.RawConfigParser(strict=True, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM (some Windows editors) is no error
        parser.read_string(text, source=str(path))
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file {path} cannot be read: {exc}") from None
    except (configparser.DuplicateSectionError, configparser.DuplicateOptionError) as exc:
        raise _duplicate(path, text, exc) from None
    except configparser.Error as exc:
        raise ConfigError(f"Config file {path} is malformed: {exc}") from None
    return parser


def _read_ini(path: Path) -> dict[str, str]:
    parser = _parse_ini(path)
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


PERIODIC_SECTION = "conveyor:periodic:"


def _read_periodic_sections(path: Path) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """The keys of each ``[conveyor:periodic:NAME]`` section of the file, by NAME.

    Keys a section inherits from ``[DEFAULT]`` are not its own, and are left out.
    """
    parser = _parse_ini(path)
    defaults = parser.defaults()
    return tuple(
        (
            section[len(PERIODIC_SECTION) :],
            tuple((k, v) for k, v in parser.items(section) if k not in defaults),
        )
        for section in parser.sections()
        if section.startswith(PERIODIC_SECTION)
    )


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


def find_config(start: Path | None = None) -> Path | None:
    """The nearest ``conveyor.ini`` in ``start`` (default: the working directory) or above.

    The file marks a project's root, as ``.git`` does: every command started
    anywhere inside the project finds the same file, and so the same store.
    """
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / CONFIG_FILE_NAME
        if candidate.is_file():
            return candidate
    return None


def load(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Config:
    """Load the configuration from an .ini file (optional) and the environment.

    Without ``path``, ``CONVEYOR_CONFIG`` names the file; without either, the
    nearest ``conveyor.ini`` in the working directory or one of its parents
    (:func:`find_config`) is used, if there is one. Relative paths in the
    configuration (the SQLite database) are resolved against the directory of
    the file, or against the working directory when there is no file.
    """
    env = os.environ if env is None else env
    if path is None and env.get(CONFIG_ENV):
        path = env[CONFIG_ENV]
    origin = "given"
    if path is None:
        path = find_config()
        origin = "found"
    file_values: dict[str, str] = {}
    values_periodic: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    base_dir = Path.cwd()
    source = "defaults and environment"
    config_file = None
    if path is not None:
        ini = Path(path)
        file_values = _read_ini(ini)
        values_periodic = _read_periodic_sections(ini)
        base_dir = ini.parent.resolve()
        source = str(ini)
        config_file = ini.resolve()
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        chosen = _choose(setting, file_values, env)
        if chosen is None:
            continue
        raw, where = chosen
        try:
            values[setting.attr] = setting.parse(raw)
        except ValueError as exc:
            place = f"config file {source}, " if where.startswith("key") else ""
            raise ConfigError(f"Invalid value in {place}{where}: {exc}") from None
    return Config(
        base_dir=base_dir,
        source=source,
        config_file=config_file,
        config_origin=origin if config_file else "none",
        periodic_sections=values_periodic,
        **values,
    )


def origins(config: Config, env: Mapping[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """Where each key set in ``config`` came from: key -> (raw text, origin in words).

    Keys left at their defaults are absent. The origin starts with
    ``"environment variable"`` or ``"key"`` (a key of the config file).
    """
    env = os.environ if env is None else env
    file_values = _read_ini(config.config_file) if config.config_file else {}
    found = {}
    for setting in SETTINGS:
        chosen = _choose(setting, file_values, env)
        if chosen is not None:
            found[setting.key] = chosen
    return found


def env_name(key: str) -> str:
    """The environment variable that overrides ``key`` (``CONVEYOR_JOBS_TIMEOUT``)."""
    return _env_name(key)


def describe_source(config: Config) -> str:
    """Where ``config`` came from, in words: the file and how it was chosen, or none."""
    if config.config_origin == "given":
        return f"config file {config.config_file}, given with -c or {CONFIG_ENV}"
    if config.config_origin == "found":
        return f"config file {config.config_file}, found from the working directory"
    return (
        f"no config file: none given with -c or {CONFIG_ENV}, and no {CONFIG_FILE_NAME}"
        f" in {config.base_dir} or its parents"
    )


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
