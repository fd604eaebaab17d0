"""Tagged JSON: the Python values CKAN code passes that JSON has no type for.

``datetime``, ``date``, ``time``, ``timedelta``, ``Decimal``, ``UUID`` and
``tuple`` are written as small objects naming their type::

    {"$type": "datetime", "value": "2026-03-29T01:30:00+01:00", "zone": "Europe/Berlin"}

and read back as the same type with the same value. A datetime or time keeps
its zone: a ``zoneinfo.ZoneInfo`` by its key (and ``fold``, for the repeated
hour), any other ``tzinfo`` by its UTC offset. A user's own dict that has a
``"$type"`` key is written as ``{"$type": "dict", "items": [[key, value], ...]}``
so it can never be mistaken for a tagged value.

Only payloads that need a tag are written this way (their format byte is
``t``); plain JSON values keep the ``j`` form and its fast path.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any

from conveyor.exceptions import SerializationError

TAG = "$type"
_SCALARS = (str, int, float, bool, type(None))


def _zone(value: dt.datetime | dt.time) -> dict[str, Any]:
    """What a value's zone adds to its tag: the key of a ZoneInfo; else, for an offset
    with a fraction of a second (which ``fromisoformat`` drops), the offset in microseconds."""
    tzinfo = value.tzinfo
    if isinstance(tzinfo, zoneinfo.ZoneInfo) and tzinfo.key:
        return {"zone": tzinfo.key}
    offset = value.utcoffset()
    if offset is not None and offset.microseconds:
        return {"offset_us": offset // dt.timedelta(microseconds=1)}
    return {}


def _moment(kind: str, value: dt.datetime | dt.time) -> dict[str, Any]:
    tagged: dict[str, Any] = {TAG: kind, "value": value.isoformat(), **_zone(value)}
    if value.fold:
        tagged["fold"] = 1
    return tagged


#: How each tagged type (tested in this order: a datetime is also a date) is written.
_ENCODERS: tuple[tuple[type, Callable[[Any], dict[str, Any]]], ...] = (
    (dt.datetime, lambda value: _moment("datetime", value)),
    (dt.date, lambda value: {TAG: "date", "value": value.isoformat()}),
    (dt.time, lambda value: _moment("time", value)),
    (
        dt.timedelta,
        lambda value: {TAG: "timedelta", "value": [value.days, value.seconds, value.microseconds]},
    ),
    (decimal.Decimal, lambda value: {TAG: "decimal", "value": str(value)}),
    (uuid.UUID, lambda value: {TAG: "uuid", "value": str(value)}),
)


def _special(value: Any) -> dict[str, Any] | None:
    """The tag of a value of one of the tagged types, else None."""
    for kind, encode in _ENCODERS:
        if isinstance(value, kind):
            return encode(value)
    return None


class Tagger:
    """Turns a value into plain JSON data, tagging what needs it, or refuses it by path.

    ``tagged`` tells afterwards whether any tag was written (if not, the
    result is the value's plain JSON and can be stored as such).
    """

    def __init__(self) -> None:
        self.tagged = False

    def encode(self, value: Any, path: str) -> Any:
        if isinstance(value, _SCALARS):
            return value
        if isinstance(value, list):
            return [self.encode(item, f"{path}[{i}]") for i, item in enumerate(value)]
        if isinstance(value, tuple):
            self.tagged = True
            items = [self.encode(item, f"{path}[{i}]") for i, item in enumerate(value)]
            return {TAG: "tuple", "value": items}
        if isinstance(value, dict):
            return self._dict(value, path)
        special = _special(value)
        if special is None:
            raise SerializationError(
                f"{path} is of type {type(value).__name__}, which JSON cannot store"
                " (pass str/int/float/bool/None/list/tuple/dict, datetime, date, time,"
                " timedelta, Decimal or UUID values, or set conveyor.serializer = pickle)"
            )
        self.tagged = True
        return special

    def _dict(self, value: dict[Any, Any], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SerializationError(
                    f"{path} has a key {key!r} of type {type(key).__name__}; JSON keys must be"
                    " strings (or set conveyor.serializer = pickle)"
                )
            out[key] = self.encode(item, f"{path}[{key!r}]")
        if TAG in out:  # the user's own "$type" key: kept apart from the tags
            self.tagged = True
            return {TAG: "dict", "items": [[key, item] for key, item in out.items()]}
        return out


def _tzinfo(tagged: dict[str, Any], parsed: dt.tzinfo | None) -> dt.tzinfo | None:
    """The zone a tag names (see ``_zone``), else the one its ISO text gave."""
    if "zone" in tagged:
        return zoneinfo.ZoneInfo(tagged["zone"])
    if "offset_us" in tagged:
        return dt.timezone(dt.timedelta(microseconds=tagged["offset_us"]))
    return parsed


def _datetime(tagged: dict[str, Any]) -> dt.datetime:
    value = dt.datetime.fromisoformat(tagged["value"])
    return value.replace(tzinfo=_tzinfo(tagged, value.tzinfo), fold=tagged.get("fold", 0))


def _time(tagged: dict[str, Any]) -> dt.time:
    value = dt.time.fromisoformat(tagged["value"])
    return value.replace(tzinfo=_tzinfo(tagged, value.tzinfo), fold=tagged.get("fold", 0))


_DECODERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "datetime": _datetime,
    "date": lambda tagged: dt.date.fromisoformat(tagged["value"]),
    "time": _time,
    "timedelta": lambda tagged: dt.timedelta(*tagged["value"]),
    "decimal": lambda tagged: decimal.Decimal(tagged["value"]),
    "uuid": lambda tagged: uuid.UUID(tagged["value"]),
    "tuple": lambda tagged: tuple(tagged["value"]),
    "dict": lambda tagged: {key: item for key, item in tagged["items"]},
}


def decode(obj: dict[str, Any]) -> Any:
    """``json.loads``'s object hook for tagged payloads: a tag becomes its value."""
    kind = obj.get(TAG)
    if kind is None:
        return obj
    decoder = _DECODERS.get(kind) if isinstance(kind, str) else None
    if decoder is None:
        raise SerializationError(f"Unknown tagged value type {kind!r} in a payload")
    try:
        return decoder(obj)
    except (KeyError, TypeError, ValueError, ArithmeticError, zoneinfo.ZoneInfoNotFoundError) as e:
        raise SerializationError(f"A tagged {kind} value cannot be read: {e}") from None
