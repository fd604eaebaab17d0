"""Turning a job's arguments and result into bytes, and back.

The default is JSON: readable in ``jobs show``, safe to load, and enough for
the ids, names and small dicts jobs normally take. Tuples, ``datetime``,
``date``, ``time``, ``timedelta``, ``Decimal`` and ``UUID`` values, which
CKAN code passes, are stored in a tagged JSON form and come back with their
type (:mod:`conveyor.tagging`). Anything else JSON cannot hold exactly (a
set, a dict with non-string keys, an object) is refused at enqueue time with
the path of the offending value, instead of being mangled or failing later
in the worker.

``conveyor.serializer = pickle`` stores arguments the way RQ does: any
picklable value, for trusted deployments only, because loading a pickle can
run code. A worker loads pickled payloads only when it is configured for
pickle itself.

Each payload starts with one byte naming its format: ``j`` (plain JSON),
``t`` (JSON with tagged values) or ``p`` (pickle). Payloads of plain values
keep the ``j`` form and its fast path; ``t`` is written only when a value
needs a tag.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping, Sequence
from typing import Any

from conveyor import tagging
from conveyor.exceptions import SerializationError

JSON = b"j"
TAGGED = b"t"
PICKLE = b"p"
_SCALARS = (str, int, float, bool, type(None))
_EXACT_SCALARS = frozenset(_SCALARS)  # for _plain(), which compares types, not instances
# One decoder for every call, given text: json.loads() given bytes first guesses their
# encoding, and builds a decoder when given options. Payloads are always UTF-8 (dumps()
# writes them), and a decoder keeps no state between calls: threads can share it.
_DECODER = json.JSONDecoder()
_TAGGED_DECODER = json.JSONDecoder(object_hook=tagging.decode)
# One encoder for every call: json.dumps builds a new one each time it is given options.
_ENCODER = json.JSONEncoder(separators=(",", ":"))
# JSONEncoder.encode() builds the C encoder anew on every call, a third of its cost for a
# job's arguments: this is that encoder, built once with _ENCODER's settings. It skips the
# check for values that contain themselves, which to_json_data() has done already, and
# so keeps no state between calls: threads can share it.
_MAKE_ENCODER = getattr(json.encoder, "c_make_encoder", None)  # None without the C accelerator
_C_ENCODE = (
    None
    if _MAKE_ENCODER is None
    else _MAKE_ENCODER(
        None,  # no markers: no check for cycles
        _ENCODER.default,
        json.encoder.encode_basestring_ascii,
        None,  # indent
        _ENCODER.key_separator,
        _ENCODER.item_separator,
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan
    )
)


def _check_json(value: Any, path: str) -> None:
    """Refuse what JSON would drop or change silently, naming where it is."""
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise SerializationError(
                    f"{path} has a key {key!r} of type {type(key).__name__}; JSON keys must be"
                    " strings (or set conveyor.serializer = pickle)"
                )
            _check_json(item, f"{path}[{key!r}]")
        return
    raise SerializationError(
        f"{path} is of type {type(value).__name__}, which JSON cannot store"
        " (pass plain str/int/float/bool/None/list/dict values, or set"
        " conveyor.serializer = pickle)"
    )


def _plain(value: Any) -> bool:
    """Whether ``value`` is built of exactly JSON's own types: the quick check.

    It builds no paths and knows no subclasses; whatever it does not pass
    goes to :func:`_check_json`, which accepts or refuses it and says where.
    """
    kind = type(value)
    if kind in _EXACT_SCALARS:
        return True
    if kind is list:  # a tuple is tagged, to come back as a tuple
        return all(map(_plain, value))
    if kind is dict:  # a "$type" key of the user's own is escaped by the tagger
        return tagging.TAG not in value and all(
            type(key) is str and _plain(item) for key, item in value.items()
        )
    return False


def _plain_at(value: Any) -> bool:
    """:func:`_plain`, false for a value too deep to walk (the full check will say so)."""
    try:
        return _plain(value)
    except RecursionError:
        return False


def check_json(value: Any, what: str) -> None:
    """Refuse, naming where, a value that plain JSON cannot hold (tuples pass, as lists).

    For what is stored as plain JSON, such as ``meta``; arguments and results
    go through :func:`dumps`, which tags what plain JSON lacks.
    """
    if _plain_at(value):
        return
    try:
        _check_json(value, what)
    except RecursionError:  # a value that contains itself, or absurdly deep nesting
        raise _too_deep(what) from None


def _too_deep(what: str) -> SerializationError:
    return SerializationError(
        f"{what} contains itself or is nested too deeply to be serialized as JSON"
    )


def to_json_data(value: Any, what: str = "value") -> tuple[Any, bool]:
    """``value`` as plain JSON data, with tags where it needs them, and whether it has any.

    SerializationError names the path of a value that cannot be stored.
    """
    if _plain_at(value):
        return value, False
    tagger = tagging.Tagger()
    try:
        data = tagger.encode(value, what)
    except RecursionError:
        raise _too_deep(what) from None
    return data, tagger.tagged


def _dump_json(value: Any, what: str, tag: bytes = JSON) -> bytes:
    """``value`` (plain JSON data, which to_json_data() made or passed) as JSON after ``tag``."""
    try:
        if _C_ENCODE is not None:
            return tag + "".join(_C_ENCODE(value, 0)).encode()
        return tag + _ENCODER.encode(value).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise SerializationError(f"{what} cannot be serialized as JSON: {exc}") from None


def dumps(value: Any, serializer: str, what: str = "value") -> bytes:
    """Serialize ``value`` with the named serializer; SerializationError says why not."""
    if serializer == "json":
        data, tagged = to_json_data(value, what)
        return _dump_json(data, what, TAGGED if tagged else JSON)
    try:
        return PICKLE + pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise SerializationError(f"{what} cannot be pickled: {exc}") from None


def loads(data: bytes, allow_pickle: bool) -> Any:
    """The value stored by :func:`dumps`."""
    tag, body = data[:1], data[1:]
    if tag == JSON:
        return _DECODER.decode(body.decode())
    if tag == TAGGED:
        return _TAGGED_DECODER.decode(body.decode())
    if tag == PICKLE:
        if not allow_pickle:
            raise SerializationError(
                "This payload is pickled, but conveyor.serializer is not pickle here;"
                " refusing to load it"
            )
        return pickle.loads(body)
    raise SerializationError(f"Unknown payload format {tag!r}")


def dump_call(
    args: Sequence[Any] | None, kwargs: Mapping[str, Any] | None, serializer: str
) -> bytes:
    """The payload of a job: its positional and keyword arguments."""
    if args is None:
        args = []
    elif isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        raise SerializationError(f"args must be a list or tuple, not {type(args).__name__}")
    if kwargs is None:
        kwargs = {}
    elif not isinstance(kwargs, Mapping):
        raise SerializationError(f"kwargs must be a dict, not {type(kwargs).__name__}")
    for key in kwargs:
        if not isinstance(key, str):
            raise SerializationError(f"kwargs has a non-string key {key!r}")
    call = [list(args), dict(kwargs)]
    if serializer == "json":
        if _plain_at(call):
            return _dump_json(call, "args")
        # Encoded apart, so an error names args[0]['x'] or kwargs['x'], as written.
        args_data, args_tagged = to_json_data(call[0], "args")
        kwargs_data, kwargs_tagged = to_json_data(call[1], "kwargs")
        tag = TAGGED if args_tagged or kwargs_tagged else JSON
        return _dump_json([args_data, kwargs_data], "args", tag)
    return dumps(call, serializer, what="args")


def load_call(payload: bytes, allow_pickle: bool) -> tuple[list[Any], dict[str, Any]]:
    """The (args, kwargs) stored by :func:`dump_call`."""
    args, kwargs = loads(payload, allow_pickle)
    return list(args), dict(kwargs)
