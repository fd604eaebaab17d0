"""The worker's job lines, and the short way they take to the text handler of ``jobs worker``.

No process is started: a :class:`Recorder` logs to a ``TextHandler`` on a
``StringIO``, on the ``conveyor.worker`` logger with propagation turned off
(pytest's own capture handlers sit on the root logger, and would otherwise
be a second handler).
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from conveyor.backends import JobRecord, JobState
from conveyor.cli.logs import LOG_FORMAT, TextHandler, _LogFormatter
from conveyor.worker.outcomes import Recorder, record_time
from support import wait_until

_LOG = logging.getLogger("conveyor.worker")


class _Counting(TextHandler):
    """A TextHandler that counts the records that reach it the long way."""

    def __init__(self, stream: io.StringIO) -> None:
        super().__init__(stream)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        super().emit(record)


@contextlib.contextmanager
def _sole(handler: logging.Handler) -> Iterator[None]:
    """``handler`` as the only handler of ``conveyor.worker``'s lines, at INFO.

    Entered in the test itself: pytest attaches its capture handlers to
    every logger that does not propagate when each test phase begins.
    """
    saved = (_LOG.handlers[:], _LOG.filters[:], _LOG.propagate, _LOG.level)
    _LOG.handlers[:] = [handler]
    _LOG.filters[:] = []
    _LOG.propagate = False
    _LOG.setLevel(logging.INFO)
    try:
        yield
    finally:
        _LOG.handlers[:], _LOG.filters[:], _LOG.propagate = saved[:3]
        _LOG.setLevel(saved[3])


@pytest.fixture
def handler() -> _Counting:
    """A text handler that will be the only one of ``conveyor.worker``'s lines (``_sole``)."""
    return _Counting(io.StringIO())


def _record(title: str | None = None) -> JobRecord:
    return JobRecord(
        id="job-1",
        queue="conveyor:default:emails",
        func="app:send",
        payload=b"",
        state=JobState.STARTED,
        created_at=0.0,
        enqueued_at=0.0,
        timeout=180,
        title=title,
        attempts=1,
    )


def _written(handler: TextHandler) -> list[str]:
    stream = handler.stream
    assert isinstance(stream, io.StringIO)
    return stream.getvalue().splitlines()


@pytest.mark.parametrize(
    "message",
    [
        'Worker w starts job job-1 (Fetch) from queue "emails"',
        "Job j raised:\nTraceback (most recent call last):\n  ValueError: x",
        "A title with \x1b[2J and \r in it",
    ],
)
@pytest.mark.parametrize("offset_ns", [0, 400_000, 999_000_000, 999_999_999, 3_600_250_000_000])
def test_a_line_written_directly_is_the_line_the_long_way_writes(
    message: str, offset_ns: int
) -> None:
    """The long way's record is timed as ``logging`` times one made at ``ns``."""
    long_way, short_way = io.StringIO(), io.StringIO()
    one, other = TextHandler(long_way), TextHandler(short_way)
    ns = 1_700_000_000_000_000_000 + offset_ns
    made = logging.LogRecord("conveyor.worker", logging.WARNING, __file__, 1, message, (), None)
    made.created, made.msecs = record_time(ns)
    one.handle(made)
    other.write_line(ns, logging.WARNING, "conveyor.worker", message)
    assert short_way.getvalue() == long_way.getvalue()
    assert "\x1b" not in short_way.getvalue()
    assert "\r" not in short_way.getvalue()
    assert short_way.getvalue().startswith("2023-11-14 ")


def test_job_lines_take_the_short_way_when_only_the_text_handler_would_see_them(
    handler: _Counting,
) -> None:
    with _sole(handler):
        Recorder("w").started(_record("Fetch \x1b[31mred"))
    lines = _written(handler)
    assert handler.records == []  # not made into a record
    assert len(lines) == 1
    assert lines[0].endswith(
        "INFO    [conveyor.worker] Worker w starts job job-1 (Fetch \\x1b[31mred)"
        ' from queue "emails"'
    )


def _filter_seeing(seen: list[logging.LogRecord]) -> logging.Filter:
    class Seeing(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            seen.append(record)
            return True

    return Seeing()


@pytest.mark.parametrize("where", ["logger", "handler"])
def test_a_filter_sees_every_job_line(handler: _Counting, where: str) -> None:
    seen: list[logging.LogRecord] = []
    with _sole(handler):
        (_LOG if where == "logger" else handler).addFilter(_filter_seeing(seen))
        Recorder("w").started(_record())
    assert [record.getMessage() for record in seen] == [
        'Worker w starts job job-1 from queue "emails"'
    ]
    assert seen[0].job_id == "job-1"  # type: ignore[attr-defined]
    assert handler.records == seen
    assert len(_written(handler)) == 1


def test_a_second_handler_gets_every_job_line_too(handler: _Counting) -> None:
    other = _Counting(io.StringIO())
    with _sole(handler):
        _LOG.addHandler(other)
        Recorder("w").started(_record())
    assert len(handler.records) == len(other.records) == 1
    assert _written(handler) == _written(other)


def test_a_second_handler_above_the_lines_level_changes_nothing(handler: _Counting) -> None:
    other = _Counting(io.StringIO())
    other.setLevel(logging.ERROR)
    with _sole(handler):
        _LOG.addHandler(other)
        Recorder("w").started(_record())
    assert (handler.records, other.records) == ([], [])
    assert len(_written(handler)) == 1
    assert _written(other) == []


def test_a_record_factory_makes_every_job_line(handler: _Counting) -> None:
    made: list[str] = []
    standard = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = standard(*args, **kwargs)
        made.append(record.name)
        return record

    logging.setLogRecordFactory(factory)
    try:
        with _sole(handler):
            Recorder("w").started(_record())
    finally:
        logging.setLogRecordFactory(standard)
    assert made == ["conveyor.worker"]
    assert len(handler.records) == 1


def test_a_formatter_set_on_the_text_handler_formats_every_job_line(handler: _Counting) -> None:
    handler.setFormatter(logging.Formatter("%(levelname)s|%(job_id)s|%(message)s"))
    with _sole(handler):
        Recorder("w").started(_record())
    assert _written(handler) == ['INFO|job-1|Worker w starts job job-1 from queue "emails"']


def test_a_handler_level_above_the_line_keeps_it_out(handler: _Counting) -> None:
    handler.setLevel(logging.WARNING)
    with _sole(handler):
        Recorder("w").started(_record())
    assert _written(handler) == []


def test_the_way_is_looked_up_again_each_second(handler: _Counting) -> None:
    """A filter added while a worker runs sees its lines from the next second on."""
    seen: list[logging.LogRecord] = []
    with _sole(handler):
        recorder = Recorder("w")
        recorder.started(_record())
        _LOG.addFilter(_filter_seeing(seen))
        second = time.time_ns() // 1_000_000_000
        wait_until(lambda: time.time_ns() // 1_000_000_000 != second, "the next second", 3)
        recorder.started(_record())
    assert len(seen) == 1
    assert len(_written(handler)) == 2


@pytest.mark.parametrize("offset_ns", [0, 999_000_000, 999_999_800, 999_999_999])
def test_the_line_formatter_and_the_fast_formatter_agree_to_the_millisecond(
    offset_ns: int,
) -> None:
    """At the last instants of a second, ``ns / 1e9`` rounds up to the next one."""
    ns = 1_700_000_000_000_000_000 + offset_ns
    formatter = _LogFormatter(LOG_FORMAT)
    record = logging.makeLogRecord({"name": "conveyor.worker", "levelname": "INFO", "msg": "m"})
    record.created, record.msecs = record_time(ns)
    assert formatter.line(ns, logging.INFO, "conveyor.worker", "m") == formatter.format(record)
    assert formatter.format(record) == logging.Formatter(LOG_FORMAT).format(record)
