"""How the CLI writes log records: lines of text, or one JSON object a line.

The library never configures logging; the commands that run for a while
(``jobs worker``) do, here. The text format is ``LOG_FORMAT``; the JSON
format (``--log-format json``, ``conveyor.log_format``) writes each record as
one object with its time, level, logger and message, and the fields conveyor
attaches to its records (``job_id``, ``queue``, ``attempt``, ``duration``,
``worker`` ...) as keys of their own.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
import time
from typing import Any

from conveyor.cli.text import EscapingFilter, escape_lines
from conveyor.worker.outcomes import record_time

LOG_FORMAT = "%(asctime)s %(levelname)-7s [%(name)s] %(message)s"
LOG_FORMATS = ["text", "json"]
# The attributes every LogRecord has; anything else came in ``extra``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class _LogFormatter(logging.Formatter):
    """``LOG_FORMAT``, made the quick way, with the date and time text made once a second.

    A busy worker logs two lines per job, and the general ``Formatter.format``
    (and the time formatting in it) was most of the cost of each. Lines are the
    same as ``logging.Formatter(LOG_FORMAT)`` makes; records with an exception
    or stack attached take the general path.
    """

    _second: int | None = None
    _text = ""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info or self._fmt != LOG_FORMAT:
            return super().format(record)
        record.message = record.getMessage()
        record.asctime = self.formatTime(record)
        return f"{record.asctime} {record.levelname:<7} [{record.name}] {record.message}"

    def line(self, ns: int, levelno: int, name: str, message: str) -> str:
        """The line ``format`` makes of a record logged at ``ns`` (``time.time_ns()``)."""
        second, rest = divmod(ns, 1_000_000_000)
        millis = rest // 1_000_000
        if millis == 999:  # perhaps rounded up to the next second, as a record's time is
            created, msecs = record_time(ns)
            second, millis = int(created), int(msecs)
        stamp = self._stamp(second, millis)
        return f"{stamp} {logging.getLevelName(levelno):<7} [{name}] {message}"

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        return self._stamp(int(record.created), int(record.msecs))

    def _stamp(self, second: int, millis: int) -> str:
        """The default ``asctime`` of that moment; the date and time text is made once a second."""
        if second != self._second:
            self._text = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(second))
            self._second = second
        return f"{self._text},{millis:03d}"


class TextHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The text handler of ``jobs worker``: a StreamHandler, and a short way in for job lines.

    A busy worker logs two lines per job, and going through the logging
    module (a LogRecord made, the logger's and handler's filters, the handler's
    lock, the formatter) cost about a quarter of its supervisor's time per
    job. The worker's own lifecycle lines (``conveyor.worker.outcomes``) come
    in through ``write_line`` instead, whenever this handler is the only one
    such a line would reach and nothing would change it on the way: no
    filter on its loggers, no record factory, and this handler's own
    formatter and escaping filter as installed. Each line is then exactly
    what the long way writes, written at once (one write, flushed), in order
    with the records that come the long way.
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._line_formatter = _LogFormatter(LOG_FORMAT)
        self._escaping = EscapingFilter()  # stored text never reaches the terminal raw
        self.setFormatter(self._line_formatter)
        self.addFilter(self._escaping)

    def takes_lines(self, levelno: int) -> bool:
        """Whether a line at ``levelno`` may come in through ``write_line``."""
        return (
            levelno >= self.level
            and self.formatter is self._line_formatter
            and len(self.filters) == 1
            and self.filters[0] is self._escaping
        )

    def write_line(self, ns: int, levelno: int, name: str, message: str) -> None:
        """Write the line a record of ``message`` logged at ``ns`` (``time.time_ns()``) makes."""
        if not message.isprintable():
            message = "\n".join(escape_lines(message))
        text = self._line_formatter.line(ns, levelno, name, message) + self.terminator
        with self.lock:  # type: ignore[union-attr]
            try:
                stream = self.stream
                stream.write(text)
                stream.flush()
            except RecursionError:
                raise
            except Exception:  # as StreamHandler.emit does: report it, and go on
                record = logging.makeLogRecord({"name": name, "levelno": levelno, "msg": message})
                self.handleError(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line; extra fields become keys."""

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
        entry: dict[str, Any] = {
            "time": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["traceback"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str, log_format: str) -> None:
    """Send log records of ``level`` and above to stderr, as text or JSON lines."""
    handler: logging.Handler
    if log_format == "json":  # JSON escapes control characters itself
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    else:
        handler = TextHandler(sys.stderr)
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler])
