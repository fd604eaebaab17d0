"""Tagged JSON: datetime, date, time, timedelta, Decimal, UUID and tuples keep their type."""

from __future__ import annotations

import datetime as dt
import decimal
import zoneinfo
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor import serializer
from conveyor.exceptions import SerializationError

zones = (
    st.none()
    | st.timezones()
    | st.builds(
        dt.timezone,
        st.timedeltas(min_value=dt.timedelta(hours=-23), max_value=dt.timedelta(hours=23)),
    )
)
tagged_scalars = (
    st.datetimes(timezones=zones)
    | st.dates()
    | st.times(timezones=zones)
    | st.timedeltas()
    | st.decimals(allow_nan=False)
    | st.uuids()
)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | tagged_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=6) | st.just("$type"), children, max_size=4)
    ),
    max_leaves=12,
)


def same(a: Any, b: Any) -> bool:
    """Equal, of the same type all the way down, and with the same zone and fold."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (dt.datetime, dt.time)):
        return (
            a.replace(tzinfo=None) == b.replace(tzinfo=None)
            and a.utcoffset() == b.utcoffset()
            and a.fold == b.fold
            and getattr(a.tzinfo, "key", None) == getattr(b.tzinfo, "key", None)
        )
    if isinstance(a, decimal.Decimal):
        return str(a) == str(b)  # the exact digits and exponent, and -0
    return bool(a == b)


@settings(database=None, max_examples=300)
@given(values)
def test_every_tagged_value_round_trips_with_its_type(value: Any) -> None:
    data = serializer.dumps(value, "json")
    assert same(serializer.loads(data, allow_pickle=False), value)


@settings(database=None)
@given(st.lists(values, max_size=3), st.dictionaries(st.text(max_size=5), values, max_size=3))
def test_a_call_with_tagged_values_round_trips(args: list[Any], kwargs: dict[str, Any]) -> None:
    payload = serializer.dump_call(args, kwargs, "json")
    loaded_args, loaded_kwargs = serializer.load_call(payload, allow_pickle=False)
    assert same(loaded_args, args)
    assert same(loaded_kwargs, kwargs)


def test_a_zone_is_kept_by_its_key_and_the_repeated_hour_by_its_fold() -> None:
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    second = dt.datetime(2026, 10, 25, 2, 30, tzinfo=berlin, fold=1)  # the second 02:30
    loaded = serializer.loads(serializer.dumps(second, "json"), allow_pickle=False)
    assert loaded.tzinfo is berlin
    assert loaded.fold == 1
    assert loaded.utcoffset() == dt.timedelta(hours=1)


def test_naive_and_aware_datetimes_stay_naive_and_aware() -> None:
    naive = dt.datetime(2026, 1, 2, 3, 4, 5, 6)
    aware = dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    loaded = serializer.loads(serializer.dumps([naive, aware], "json"), allow_pickle=False)
    assert loaded[0].tzinfo is None
    assert loaded[1].utcoffset() == dt.timedelta(hours=-5)
    assert loaded == [naive, aware]


def test_the_tagged_form_is_readable_json() -> None:
    payload = serializer.dumps({"when": dt.date(2026, 1, 2), "n": decimal.Decimal("1.50")}, "json")
    assert payload == (
        b't{"when":{"$type":"date","value":"2026-01-02"},"n":{"$type":"decimal","value":"1.50"}}'
    )


def test_a_dict_with_a_type_key_of_its_own_is_not_read_as_a_tag() -> None:
    value = {"$type": "datetime", "value": "not a date"}
    assert serializer.loads(serializer.dumps(value, "json"), allow_pickle=False) == value


def test_plain_payloads_stay_plain_json() -> None:
    assert serializer.dump_call([1, "a", [2]], {"k": None}, "json") == b'j[[1,"a",[2]],{"k":null}]'


def test_payloads_stored_before_tags_existed_still_load() -> None:
    stored = b'j[["Hello",1,{"$type":"date"}],{"level":20}]'  # any JSON, read as it is
    assert serializer.load_call(stored, allow_pickle=False) == (
        ["Hello", 1, {"$type": "date"}],
        {"level": 20},
    )


@pytest.mark.parametrize(
    "body",
    [b'{"$type":"nope","value":1}', b'{"$type":"date","value":"2026-13-01"}', b'{"$type":"uuid"}'],
)
def test_a_damaged_tag_is_refused_with_a_clear_error(body: bytes) -> None:
    with pytest.raises(SerializationError, match="tagged"):
        serializer.loads(b"t" + body, allow_pickle=False)


def test_a_dollar_type_key_of_the_user_s_own_beside_a_tagged_value_round_trips() -> None:
    # kwargs alone is plain JSON, but args needs tags: the payload is read with the tag hook.
    payload = serializer.dump_call([(1, 2)], {"$type": False}, "json")
    assert serializer.load_call(payload, allow_pickle=False) == ([(1, 2)], {"$type": False})


def test_an_offset_with_a_fraction_of_a_second_round_trips() -> None:
    # fromisoformat() drops the microseconds of an offset; the tag keeps them.
    zones = [dt.timezone(dt.timedelta(microseconds=us)) for us in (1, -1)]
    zones.append(dt.timezone(dt.timedelta(hours=-3, microseconds=1)))
    values = [dt.datetime(2026, 1, 2, 3, 4, tzinfo=zone) for zone in zones]
    values += [dt.time(3, 4, tzinfo=zone) for zone in zones]
    for value in values:
        loaded = serializer.loads(serializer.dumps(value, "json"), allow_pickle=False)
        assert loaded == value
        assert loaded.utcoffset() == value.utcoffset()
