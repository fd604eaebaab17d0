"""Serializing job arguments: JSON by default, pickle by choice, nothing mangled silently."""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import enum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import conveyor
import conveyor_test_jobs
from conveyor import config, serializer
from conveyor.exceptions import InvalidJobError, SerializationError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=20,
)


# -- JSON --------------------------------------------------------------------------------
@settings(database=None)
@given(json_values)
def test_json_round_trips_every_json_value(value: Any) -> None:
    data = serializer.dumps(value, "json")
    assert serializer.loads(data, allow_pickle=False) == value


@settings(database=None)
@given(st.lists(json_values, max_size=4), st.dictionaries(st.text(), json_values, max_size=4))
def test_a_call_round_trips_its_args_and_kwargs(args: list[Any], kwargs: dict[str, Any]) -> None:
    payload = serializer.dump_call(args, kwargs, "json")
    assert serializer.load_call(payload, allow_pickle=False) == (args, kwargs)


@settings(database=None)
@given(json_values | st.floats() | st.lists(st.floats()))
def test_the_cached_c_encoder_writes_what_the_standard_encoder_writes(value: Any) -> None:
    assert serializer._C_ENCODE is not None  # CPython has the C accelerator
    assert serializer.dumps(value, "json") == b"j" + serializer._ENCODER.encode(value).encode()


def test_json_payloads_are_readable_text() -> None:
    payload = serializer.dump_call(["Hello", 1], {"level": 20}, "json")
    assert payload == b'j[["Hello",1],{"level":20}]'


def test_nested_tuples_come_back_as_tuples() -> None:
    payload = serializer.dump_call((1, (2, 3)), {"pair": ("a", "b")}, "json")
    assert payload[:1] == b"t"
    assert serializer.load_call(payload, allow_pickle=False) == ([1, (2, 3)], {"pair": ("a", "b")})


def test_missing_args_and_kwargs_are_empty() -> None:
    payload = serializer.dump_call(None, None, "json")
    assert serializer.load_call(payload, allow_pickle=False) == ([], {})


@pytest.mark.parametrize(
    ("args", "kwargs", "path", "kind"),
    [
        ([{"x": {1, 2}}], None, "args[0]['x']", "set"),
        ([1, frozenset({1})], None, "args[1]", "frozenset"),
        ([], {"when": complex(1, 2)}, "kwargs['when']", "complex"),
        ([[0, [decimal.Context()]]], None, "args[0][1][0]", "Context"),
        ([(0, dt.timezone.utc)], None, "args[0][1]", "timezone"),
        ([conveyor_test_jobs.Maker()], None, "args[0]", "Maker"),
        ([b"bytes"], None, "args[0]", "bytes"),
        ([], {"nested": {"deeper": [object()]}}, "kwargs['nested']['deeper'][0]", "object"),
    ],
)
def test_values_json_cannot_hold_are_refused_naming_their_path(
    args: list[Any], kwargs: dict[str, Any] | None, path: str, kind: str
) -> None:
    with pytest.raises(SerializationError) as caught:
        serializer.dump_call(args, kwargs, "json")
    message = str(caught.value)
    assert message.startswith(f"{path} is ")
    assert f" {kind}, which JSON cannot store" in message
    assert "pickle" in message  # says how to store it anyway


class Level(enum.IntEnum):
    HIGH = 2


class Name(str):
    pass


def test_subclasses_of_json_types_are_stored_as_their_json_values() -> None:
    # The quick check passes exact types only; these go through the full one.
    args = [Level.HIGH, Name("x"), collections.OrderedDict(b=1, a=[[1, 2]])]
    payload = serializer.dump_call(args, {Name("k"): Level.HIGH}, "json")
    assert payload[:1] == b"j"  # nothing needed a tag
    assert serializer.load_call(payload, allow_pickle=False) == (
        [2, "x", {"b": 1, "a": [[1, 2]]}],
        {"k": 2},
    )


def test_a_dict_with_a_non_string_key_is_refused_naming_its_path() -> None:
    with pytest.raises(SerializationError) as caught:
        serializer.dump_call([{"ok": {1: "one"}}], None, "json")
    assert str(caught.value).startswith("args[0]['ok'] has a key 1 of type int")


def test_a_value_that_contains_itself_is_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(SerializationError, match=r"^args contains itself"):
        serializer.dump_call([loop], None, "json")


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ("a string", None, "args must be a list or tuple, not str"),
        ({"a": 1}, None, "args must be a list or tuple, not dict"),
        ([], ["a"], "kwargs must be a dict, not list"),
        ([], {1: "a"}, "kwargs has a non-string key 1"),
    ],
)
def test_args_and_kwargs_of_the_wrong_shape_are_refused(
    args: Any, kwargs: Any, message: str
) -> None:
    with pytest.raises(SerializationError, match=message):
        serializer.dump_call(args, kwargs, "json")


def test_an_unknown_payload_format_is_refused() -> None:
    with pytest.raises(SerializationError, match="Unknown payload format"):
        serializer.loads(b"x{}", allow_pickle=True)


# -- through enqueue() -----------------------------------------------------------------------
def test_enqueue_refuses_an_unserializable_argument_and_stores_nothing() -> None:
    with pytest.raises(SerializationError, match=r"^args\[0\]\['x'\] is of type set"):
        conveyor.enqueue(conveyor_test_jobs.succeed, [{"x": {1}}])
    assert issubclass(SerializationError, InvalidJobError)
    assert conveyor.job_list() == []
    assert conveyor.get_all_queues() == []


def test_enqueued_tuples_come_back_as_tuples() -> None:
    job = conveyor.enqueue(conveyor_test_jobs.succeed, (1, (2, 3)), {"t": (4,)})
    stored = conveyor.job_from_id(job.id)
    assert stored.args == [1, (2, 3)]
    assert stored.kwargs == {"t": (4,)}


# -- pickle --------------------------------------------------------------------------------
def test_pickle_stores_values_json_cannot() -> None:
    value = {"when": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), "tags": {1, 2}, 3: (4,)}
    data = serializer.dumps(value, "pickle")
    assert data[:1] == b"p"
    assert serializer.loads(data, allow_pickle=True) == value


def test_enqueue_with_the_pickle_serializer_keeps_python_values() -> None:
    when = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    with config.override({"conveyor.serializer": "pickle"}):
        job = conveyor.enqueue(conveyor_test_jobs.succeed, [{1, 2}, when], {"pair": (1, 2)})
        stored = conveyor.job_from_id(job.id)
        assert stored.args == [{1, 2}, when]
        assert stored.kwargs == {"pair": (1, 2)}


def test_a_pickled_payload_is_refused_when_the_serializer_is_json() -> None:
    data = serializer.dumps([1, 2], "pickle")
    with pytest.raises(SerializationError, match="pickled"):
        serializer.loads(data, allow_pickle=False)
    with config.override({"conveyor.serializer": "pickle"}):
        job = conveyor.enqueue(conveyor_test_jobs.succeed, [{1, 2}])
    stored = conveyor.job_from_id(job.id)  # the configuration is json again
    with pytest.raises(SerializationError, match="pickled"):
        stored.args  # noqa: B018 -- loading is what is refused
