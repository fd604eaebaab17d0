"""Stored text made safe for a terminal.

Titles, errors, function names and worker names come from the job store,
where anyone who can enqueue may have put anything. The CLI never writes a
raw control character from them to a terminal: each is shown as a Python
escape (``\\x1b``, ``\\n``, ``\\ud800``), so an escape sequence cannot move
the cursor or recolour the screen, and a newline cannot forge a line of a
listing.
"""

from __future__ import annotations

import logging

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _safe(char: str) -> bool:
    # Printable characters and plain spaces pass; so do other spaces (Zs), which
    # cannot control a terminal. Control, format, surrogate and unassigned ones do not.
    return char.isprintable() or (
        char.isspace() and char not in "\n\r\t\v\f\x1c\x1d\x1e\x1f\x85\u2028\u2029"
    )


def escape(text: str) -> str:
    """``text`` for one line of a listing: every control character escaped."""
    if text.isprintable():
        return text
    return "".join(char if _safe(char) else _escaped(char) for char in text)


def escape_lines(text: str) -> list[str]:
    """``text`` (a traceback, say) as lines, each escaped; its own line breaks kept."""
    return [escape(line) for line in text.split("\n")]


class EscapingFilter(logging.Filter):
    """A handler filter that escapes control characters in log messages (not line breaks).

    Worker log lines carry stored text (titles, error messages, tracebacks).
    A message keeps its own line breaks, since a traceback spans lines, but
    every other control character (an escape sequence, a carriage return) is
    escaped before the line reaches the terminal.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.isprintable():
            message = "\n".join(escape_lines(message))
        record.msg, record.args = message, None  # formatting it again is then free
        return True
