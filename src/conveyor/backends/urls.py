"""Backend URLs: checked without a driver, shown without their password.

The checks run when the configuration is loaded (so the error names the
``conveyor.backend`` key) and again when a backend is opened. They need
neither the Redis nor the PostgreSQL driver, so a malformed URL is reported
the same way whether or not the extra is installed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from conveyor.exceptions import ConfigError

SCHEMES = ("sqlite", "redis", "rediss", "unix", "postgresql", "postgres")
#: Longest SQLite busy timeout, in seconds.
MAX_BUSY_TIMEOUT = 3_600
_SQLITE_SYNCHRONOUS = ("off", "normal", "full", "extra")
# Query options redis-py takes from a URL, and conveyor's own ``namespace``. Left out on
# purpose: ``decode_responses`` and ``encoding`` (conveyor reads bytes).
_REDIS_OPTIONS = frozenset(
    {
        "namespace",
        "db",
        "username",
        "password",
        "client_name",
        "lib_name",
        "lib_version",
        "health_check_interval",
        "max_connections",
        "protocol",
        "retry_on_error",
        "retry_on_timeout",
        "socket_connect_timeout",
        "socket_keepalive",
        "socket_read_size",
        "socket_timeout",
        "timeout",
        "ssl_ca_certs",
        "ssl_ca_data",
        "ssl_ca_path",
        "ssl_cert_reqs",
        "ssl_certfile",
        "ssl_check_hostname",
        "ssl_ciphers",
        "ssl_exclude_verify_flags",
        "ssl_include_verify_flags",
        "ssl_keyfile",
        "ssl_min_version",
        "ssl_password",
        "ssl_validate_ocsp",
        "ssl_validate_ocsp_stapled",
    }
)
_REDIS_NUMBERS = ("health_check_interval", "socket_connect_timeout", "socket_timeout", "timeout")


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages and listings."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url.rsplit("@", maxsplit=1)[-1] if "@" in url else url
    if password is None and "password=" not in parts.query:
        return url
    if "password=" in parts.query:
        parts = parts._replace(
            query=re.sub(r"(^|&)password=[^&]*", r"\1password=***", parts.query)
        )
    if password is not None:
        user = parts.username or ""
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{user}:***@{host}")
    return urlunsplit(parts)


def _split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- reading it checks the port's range
    except ValueError as exc:
        raise ConfigError(f"Invalid backend URL {redact(url)!r}: {exc}") from None
    return parts


def _query(parts: SplitResult, url: str) -> dict[str, str]:
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    names = [name for name, _ in pairs]
    doubled = sorted({name for name in names if names.count(name) > 1})
    if doubled:
        raise ConfigError(f"Option(s) {doubled} given twice in backend URL {redact(url)!r}")
    return dict(pairs)


def _check_redis(parts: SplitResult, url: str) -> None:
    options = _query(parts, url)
    unknown = sorted(set(options) - _REDIS_OPTIONS)
    if unknown:
        raise ConfigError(
            f"Unknown option(s) {unknown} in Redis URL {redact(url)!r}"
            " (see redis-py's URL options, and conveyor's namespace)"
        )
    database = options.get("db") or (parts.path.strip("/") if parts.scheme != "unix" else "")
    if database and not (database.isdigit() and int(database) < 2**31):
        raise ConfigError(f"Invalid database number {database!r} in Redis URL {redact(url)!r}")
    for name in _REDIS_NUMBERS:
        if name in options:
            _number(name, options[name], url, 0, 86_400)


def _number(name: str, text: str, url: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not low <= value <= high:  # also refuses NaN
        raise ConfigError(
            f"Invalid {name}={text!r} in backend URL {redact(url)!r}:"
            f" use a number of seconds from {low:g} to {high:g}"
        )
    return value


@dataclass(frozen=True)
class SQLiteLocation:
    """Where an SQLite URL points, and its connection options."""

    path: Path
    busy_timeout: float
    synchronous: str


def sqlite_location(url: str, base_dir: Path | None = None) -> SQLiteLocation:
    """``sqlite:///relative.db`` or ``sqlite:////absolute.db`` (SQLAlchemy's form), checked.

    A relative path is resolved against ``base_dir`` (the config file's
    directory), or the working directory.
    """
    parts = _split(url)
    raw = unquote(parts.path)
    if parts.netloc or not raw or raw == "/" or ":memory:" in raw:
        raise ConfigError(
            f"Invalid SQLite URL {url!r}: use sqlite:///relative/path.db or"
            " sqlite:////absolute/path.db (an in-memory database cannot be shared"
            " with workers)"
        )
    path = Path(raw[1:])
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    options = _query(parts, url)
    unknown = set(options) - {"busy_timeout", "synchronous"}
    if unknown:
        raise ConfigError(f"Unknown SQLite URL option(s) {sorted(unknown)} in {url!r}")
    synchronous = options.get("synchronous", "normal").lower()
    if synchronous not in _SQLITE_SYNCHRONOUS:
        raise ConfigError(
            f"Invalid synchronous={synchronous!r} in {url!r}"
            f" (one of {', '.join(_SQLITE_SYNCHRONOUS)})"
        )
    busy = _number("busy_timeout", options.get("busy_timeout", "30"), url, 0, MAX_BUSY_TIMEOUT)
    return SQLiteLocation(path, busy, synchronous)


def check_url(url: str) -> str:
    """``url`` if it is a well-formed backend URL, else ConfigError saying what is wrong."""
    parts = _split(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigError(
            f"Unknown backend URL scheme {scheme!r} in {redact(url)!r}"
            f" (known: {', '.join(sorted(SCHEMES))})"
        )
    if scheme == "sqlite":
        sqlite_location(url, Path("/"))
    elif scheme in {"redis", "rediss", "unix"}:
        _check_redis(parts, url)
    return url


def pop_url_option(url: str, name: str) -> tuple[str, list[str]]:
    """``url`` without the query option ``name`` (a backend's own), and its values there.

    What is left goes to the driver, which would refuse an option it does
    not know. A URL without the option comes back as it was.
    """
    parts = urlsplit(url)
    options = parse_qsl(parts.query, keep_blank_values=True)
    values = [value for key, value in options if key == name]
    if not values:
        return url, []
    rest = urlencode([(key, value) for key, value in options if key != name])
    rebuilt = urlunsplit(parts._replace(query=rest))
    authority = f"{parts.scheme}://"
    if url.startswith(authority) and not rebuilt.startswith(authority):
        # urlunsplit drops an empty host's "//" for schemes it does not know (unix:///x.sock
        # would come back as unix:/x.sock, which redis-py and libpq refuse).
        rebuilt = authority + rebuilt.removeprefix(f"{parts.scheme}:")
    return rebuilt, values
