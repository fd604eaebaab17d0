"""Reading a child's pipe: all that has come in one read, handed out a message at a time.

A real pipe (``multiprocessing.Pipe``, as the pool makes), written with
``Connection.send_bytes`` as both ends of a child's pipe write it. The reads
are counted by wrapping ``os.read`` for the ``Frames`` module only.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterator
from multiprocessing import Pipe
from multiprocessing.connection import Connection

import pytest

from conveyor.worker import frames as frames_module
from conveyor.worker.frames import Frames
from support import wait_until


@pytest.fixture
def ends() -> Iterator[tuple[Connection, Connection]]:
    writer, reader = Pipe()
    yield writer, reader
    writer.close()
    reader.close()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes os.read returned to Frames, in order."""
    sizes: list[int] = []
    real = os.read

    def counted(fd: int, n: int) -> bytes:
        data = real(fd, n)
        sizes.append(len(data))
        return data

    monkeypatch.setattr(frames_module.os, "read", counted)
    return sizes


def test_messages_that_came_together_are_read_with_one_call(
    ends: tuple[Connection, Connection], reads: list[int]
) -> None:
    writer, reader = ends
    for text in (b"one", b"", b"three"):
        writer.send_bytes(text)
    frames = Frames(reader)
    assert not frames.ready()
    assert frames.next() == b"one"
    assert frames.ready()
    assert frames.next() == b""
    assert frames.next() == b"three"
    assert not frames.ready()
    assert len(reads) == 1


def test_a_message_sent_in_parts_is_waited_for_until_whole(
    ends: tuple[Connection, Connection],
) -> None:
    writer, reader = ends
    body = bytes(range(256)) * 1024  # 256 KiB: several reads
    frames = Frames(reader)
    sender = threading.Thread(target=writer.send_bytes, args=(body,))
    sender.start()
    try:
        assert frames.next() == body
    finally:
        sender.join(10)
    assert not frames.ready()


def test_a_partial_message_is_not_ready_and_the_rest_completes_it(
    ends: tuple[Connection, Connection], reads: list[int]
) -> None:
    writer, reader = ends
    whole = struct.pack("!i", 5) + b"hello" + struct.pack("!i", 2) + b"hi"
    frames = Frames(reader)
    os.write(writer.fileno(), whole[:7])
    got: list[bytes] = []
    taker = threading.Thread(target=lambda: got.append(frames.next()))
    taker.start()
    try:
        wait_until(lambda: len(reads) == 1, "the first read")
        assert not frames.ready()
        assert got == []
        os.write(writer.fileno(), whole[7:11])  # "hello" whole, the next size half there
    finally:
        taker.join(10)
    assert got == [b"hello"]
    assert not frames.ready()
    os.write(writer.fileno(), whole[11:])
    assert frames.next() == b"hi"
    assert not frames.ready()
    assert reads == [7, 4, 4]


def test_what_connection_recv_bytes_reads_reads_the_same(
    ends: tuple[Connection, Connection],
) -> None:
    """Huge messages carry a size of -1, then an 8-byte size, as multiprocessing writes them."""
    writer, reader = ends
    os.write(writer.fileno(), struct.pack("!i", -1) + struct.pack("!Q", 3) + b"big")
    writer.send_bytes(b"after")
    frames = Frames(reader)
    assert frames.next() == b"big"
    assert frames.next() == b"after"


def test_the_end_of_the_pipe_before_a_whole_message_is_an_eof(
    ends: tuple[Connection, Connection],
) -> None:
    writer, reader = ends
    os.write(writer.fileno(), struct.pack("!i", 10) + b"cut")
    writer.close()
    frames = Frames(reader)
    with pytest.raises(EOFError):
        frames.next()
    assert not frames.ready()


# -- writing -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 300, 16384, 16385, 200_000])
def test_write_frame_frames_a_message_as_send_bytes_does(
    ends: tuple[Connection, Connection], size: int
) -> None:
    """``recv_bytes``, multiprocessing's own reader, reads what write_frame wrote, whole,
    on both sides of the size that send_bytes writes in one piece (16 KiB)."""
    writer, reader = ends
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    sender = threading.Thread(target=frames_module.write_frame, args=(writer, data))
    sender.start()  # a large message fills the pipe: it is read while written
    assert reader.recv_bytes() == data
    sender.join(timeout=10)
    assert not sender.is_alive()


def test_write_frame_writes_a_short_message_with_one_call(
    ends: tuple[Connection, Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    writer, reader = ends
    calls: list[int] = []
    real = os.write

    def counted(fd: int, data: bytes) -> int:
        calls.append(len(data))
        return real(fd, data)

    monkeypatch.setattr(frames_module.os, "write", counted)
    frames_module.write_frame(writer, b"an outcome")
    assert calls == [4 + len(b"an outcome")]
    assert reader.recv_bytes() == b"an outcome"


def test_write_frame_finishes_a_message_the_pipe_took_in_parts(
    ends: tuple[Connection, Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel rarely takes part of a short write (a signal, a nearly full pipe), so a
    stand-in os.write takes at most 3 bytes a call; the rest of the message must follow."""
    writer, reader = ends
    real = os.write

    def partial(fd: int, data: bytes) -> int:
        return real(fd, bytes(data[:3]))

    monkeypatch.setattr(frames_module.os, "write", partial)
    frames_module.write_frame(writer, b"cut in parts")
    frames_module.write_frame(writer, b"next")
    assert reader.recv_bytes() == b"cut in parts"
    assert reader.recv_bytes() == b"next"


def test_write_frame_to_a_closed_connection_is_an_oserror(
    ends: tuple[Connection, Connection],
) -> None:
    writer, _ = ends
    writer.close()
    with pytest.raises(OSError, match="handle is closed"):  # as send_bytes says it
        frames_module.write_frame(writer, b"late")
