"""The bounds of every numeric job option, and the checks enqueue() applies.

All options are checked here, before any store is touched, so that every
store refuses the same values with the same message. The bounds keep each
stored value safe on every store: well inside PostgreSQL's 32-bit
``integer`` columns, and far below 2**53 milliseconds where Redis turns a
TTL into a ``PEXPIRE``.

These functions are public so that other enqueue spellings (RQ's
``Queue.enqueue(job_timeout=...)``, the CKAN adapter) validate exactly as
:func:`conveyor.enqueue` does. Each raises :class:`InvalidJobError` naming
the option and the bound.
"""

from __future__ import annotations

import math
import re
from typing import Any

from conveyor.exceptions import InvalidJobError, SerializationError

#: Longest timeout, result_ttl, failure_ttl or retry delay: ten years of seconds.
#: Use -1 (no limit / keep forever) for longer.
MAX_SECONDS = 315_360_000
#: Most runs a job may be allowed (``max_attempts``).
MAX_ATTEMPTS = 10_000
#: Most retries a retry policy may ask for (one run fewer than MAX_ATTEMPTS).
MAX_RETRIES = MAX_ATTEMPTS - 1
#: Largest retry backoff factor, and most delays in a retry interval list.
MAX_BACKOFF = 1_000
MAX_INTERVALS = 1_000
#: Most jobs one ``jobs list`` / ``job_list`` call returns, and its largest offset.
MAX_LIST_LIMIT = 1_000_000
MAX_LIST_OFFSET = 10**12

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3_600, "d": 86_400}
_DURATION = re.compile(r"^\s*(-?\d+)\s*([smhd]?)\s*$", re.IGNORECASE)


def _whole(option: str, value: Any) -> int:
    """``value`` if it is an int (a bool is not), else InvalidJobError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidJobError(f"{option} must be a whole number, not {value!r}")
    return value


def check_count(option: str, value: Any, minimum: int, maximum: int) -> int:
    """An integer option within ``minimum`` .. ``maximum`` (inclusive)."""
    number = _whole(option, value)
    if not minimum <= number <= maximum:
        raise InvalidJobError(f"{option} must be between {minimum} and {maximum}, not {number}")
    return number


def parse_duration(option: str, text: str) -> int:
    """RQ's timeout strings: ``'3600'``, ``'90s'``, ``'30m'``, ``'1h'``, ``'2d'``; in seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise InvalidJobError(
            f"{option} {text!r} is not a duration: use seconds ('3600') or a number"
            " with s, m, h or d ('90s', '30m', '1h', '2d')"
        )
    number, unit = int(match.group(1)), match.group(2).lower()
    if number < 0 and (unit or number != -1):
        raise InvalidJobError(f"{option} {text!r} is negative (only -1, no limit, is allowed)")
    return number * _UNITS[unit]


def check_timeout(value: Any, default: int, option: str = "timeout") -> int:
    """A job timeout in whole seconds: ``None`` or 0 is ``default``, -1 is no limit.

    Accepts an int, a float (rounded up), or one of RQ's strings
    (:func:`parse_duration`); at most :data:`MAX_SECONDS`.
    """
    if value is None:
        return default
    if isinstance(value, str):
        value = parse_duration(option, value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidJobError(f"{option} must be a number of seconds, not {value!r}")
    if value == 0:
        return default
    if value == -1:
        return -1
    if not 0 < value <= MAX_SECONDS:  # also refuses NaN
        raise InvalidJobError(
            f"{option} must be between 1 and {MAX_SECONDS} seconds, or -1 (no limit),"
            f" not {value!r}"
        )
    return math.ceil(value)


def check_ttl(option: str, value: Any, default: int) -> int:
    """A retention in seconds: 0 keeps nothing, -1 keeps forever; at most MAX_SECONDS."""
    if value is None:
        return default
    number = _whole(option, value)
    if not -1 <= number <= MAX_SECONDS:
        raise InvalidJobError(
            f"{option} must be between 0 and {MAX_SECONDS} seconds, or -1 (forever), not {number}"
        )
    return number


def check_seconds(option: str, value: Any) -> float:
    """A delay: a number of seconds from 0 to MAX_SECONDS (not NaN, not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidJobError(f"{option} must be a number of seconds, not {value!r}")
    if not 0 <= value <= MAX_SECONDS:  # also refuses NaN and infinities
        raise InvalidJobError(
            f"{option} must be between 0 and {MAX_SECONDS} seconds, not {value!r}"
        )
    return float(value)


def check_run_at(run_at: float, now: float) -> float:
    """When a scheduled job is due: not before 1970, at most MAX_SECONDS after ``now``.

    A time in the past is allowed (the job is due at once), as in RQ.
    """
    if not 0 <= run_at <= now + MAX_SECONDS:  # also refuses NaN and infinities
        raise InvalidJobError(
            f"A job can be scheduled at most {MAX_SECONDS} seconds (ten years) ahead and"
            f" not before 1970, not at {run_at!r} (epoch seconds)"
        )
    return run_at


def check_flag(option: str, value: Any, default: bool = False) -> bool:
    """A boolean option: ``True``, ``False`` or ``None`` (the default); nothing else."""
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidJobError(f"{option} must be True or False, not {value!r}")
    return value


def check_text(option: str, value: Any) -> str | None:
    """A title or description: None, or a string every store can keep (no NUL, valid UTF-8)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidJobError(f"{option} must be a string, not {type(value).__name__}")
    if "\x00" in value:
        raise InvalidJobError(f"{option} must not contain NUL characters")
    if value.isascii():  # the usual case: no surrogate possible
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidJobError(
            f"{option} has a lone surrogate at position {exc.start} (not valid Unicode text)"
        ) from None
    return value


def _check_json_strings(option: str, value: Any) -> None:
    if isinstance(value, str):
        check_text(option, value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise InvalidJobError(f"{option} holds {value!r}, which standard JSON cannot store")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json_strings(option, key)
            _check_json_strings(option, item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_json_strings(option, item)


def check_json_text(option: str, value: Any) -> None:
    """JSON data (``meta``) every store can keep: text without NUL or lone surrogates
    (keys included), and finite numbers.

    PostgreSQL's ``jsonb`` refuses a NUL, a lone surrogate, NaN and infinities,
    which SQLite and Redis would keep; all three refuse them here, before the store.
    """
    _check_json_strings(option, value)


def storable_text(text: str) -> str:
    """``text`` with what a store cannot keep (NUL, lone surrogates) written as escapes.

    For text conveyor records but must not refuse, such as a job's error
    message: ``"a\\x00b"`` becomes ``"a\\\\x00b"`` (a backslash, then ``x00``).
    """
    if "\x00" not in text and text.isascii():
        return text
    escaped = text.replace("\x00", "\\x00")
    return escaped.encode("utf-8", "backslashreplace").decode("utf-8")


def check_meta_text(value: Any, option: str = "meta") -> None:
    """``check_json_text`` for meta saved from a Job: the same checks, as a SerializationError."""
    try:
        check_json_text(option, value)
    except InvalidJobError as exc:
        raise SerializationError(str(exc)) from None
