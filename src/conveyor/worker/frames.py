"""A child's pipe, both ways: a message a write, and whatever has come in one read.

Both ends write messages framed as ``Connection.send_bytes`` frames them (a
4-byte length, then the bytes), through :func:`write_frame`: one ``os.write``
for a message of up to 16 KiB, without ``send_bytes``'s checks of the buffer
it is given (always bytes here). ``Connection.recv_bytes`` reads each message
with two system calls, the length and then the bytes, and a quick job's
outcome, or the next job, is one message a job each way. Here the reading end
takes everything the pipe holds in one read, up to 64 KiB, and hands out the
messages in it one by one: a supervisor that finds three outcomes waiting
reads them with one call, and a child that was sent its next jobs ahead reads
them all at once.

Whoever reads through a :class:`Frames` must go on taking messages while
:meth:`Frames.ready` says one is whole: the bytes are out of the pipe by
then, and a ``select`` on it will not wake for them.
"""

from __future__ import annotations

import os
import struct
from multiprocessing.connection import Connection

_SIZE = struct.Struct("!i")  # as Connection.send_bytes writes it
_LARGE_SIZE = struct.Struct("!Q")  # after a size of -1: messages of 2 GiB and more
_CHUNK = 65536
_JOINED_MAX = 16384  # send_bytes writes a larger message apart from its size


def write_frame(conn: Connection, data: bytes) -> None:
    """Write ``data`` to ``conn`` as one message, framed as ``Connection.send_bytes`` frames it.

    A message of up to 16 KiB (every job and outcome but those with large
    arguments or results) is its size and its bytes in one ``os.write``;
    a larger one goes through ``send_bytes`` itself.
    """
    if len(data) > _JOINED_MAX:
        conn.send_bytes(data)
        return
    fd = conn.fileno()  # OSError once the connection is closed, as send_bytes raises
    frame = _SIZE.pack(len(data)) + data
    written = os.write(fd, frame)
    if written < len(frame):  # rare: the pipe took part of it
        left = memoryview(frame)[written:]
        while left:
            left = left[os.write(fd, left) :]


class Frames:
    """The messages read off one end of a pipe (a ``multiprocessing`` Connection)."""

    def __init__(self, conn: Connection) -> None:
        self._fd = conn.fileno()
        self._data = bytearray()
        self._start = 0  # where the first message not yet handed out begins

    def _whole(self) -> tuple[int, int] | None:
        """Where the first buffered message's bytes begin and end, if it is all here."""
        data, start = self._data, self._start
        have = len(data) - start
        if have < 4:
            return None
        (size,) = _SIZE.unpack_from(data, start)
        begin = start + 4
        if size == -1:
            if have < 12:
                return None
            (size,) = _LARGE_SIZE.unpack_from(data, begin)
            begin += 8
        end = begin + size
        return (begin, end) if end <= len(data) else None

    def ready(self) -> bool:
        """Whether a whole message has been read and not yet taken."""
        return len(self._data) > self._start and self._whole() is not None

    def next(self) -> bytes:
        """The next message, reading the pipe (and waiting on it) until one is whole.

        Raises EOFError once the other end has closed before a whole message.
        """
        span = self._whole()
        while span is None:
            chunk = os.read(self._fd, _CHUNK)
            if not chunk:
                raise EOFError("the pipe was closed")
            if self._start:  # drop what was handed out before growing the buffer
                del self._data[: self._start]
                self._start = 0
            self._data += chunk
            span = self._whole()
        begin, end = span
        message = bytes(self._data[begin:end])
        if end == len(self._data):
            self._data.clear()
            self._start = 0
        else:
            self._start = end
        return message
