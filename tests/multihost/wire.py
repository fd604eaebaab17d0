"""A network cable between two TAP devices, with faults a test switches on and off.

    python wire.py NAME_A NAME_B

Creates the TAP devices ``NAME_A`` and ``NAME_B`` in the network namespace it
runs in (the caller then moves one of them to another namespace: the cable
stays plugged in), prints ``ready``, and copies every Ethernet frame from one
to the other until its standard input closes. This kernel has no ``netem``
qdisc, so the faults are made here, frame by frame, in both directions:

- ``cut``: every frame is dropped (a silent partition: no error reaches
  either side, as when a switch or a route dies);
- ``heal``: frames pass again;
- ``impair DELAY_MS LOSS``: each frame is held ``DELAY_MS`` milliseconds and
  dropped with probability ``LOSS`` (0 to 1), as ``tc netem delay 50ms loss 5%``
  does on each end of a link;
- ``clear``: no delay and no loss.

Each command, one a line on standard input, is answered ``ok COMMAND`` on
standard output once it applies to the next frame.
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import os
import random
import select
import struct
import sys
import time

_TUNSETIFF = 0x400454CA
_IFF_TAP = 0x0002
_IFF_NO_PI = 0x1000
_MAX_FRAME = 65_536


def open_tap(name: str) -> int:
    """A TAP device named ``name`` in this namespace, as a file descriptor (closing it deletes
    the device)."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", name.encode(), _IFF_TAP | _IFF_NO_PI))
    return fd


class Wire:
    """Frames in flight between two TAP devices, and the faults applied to them."""

    def __init__(self, a: int, b: int) -> None:
        self.other = {a: b, b: a}
        self.cut = False
        self.delay = 0.0
        self.loss = 0.0
        self.rng = random.Random()
        self.in_flight: list[tuple[float, int, int, bytes]] = []  # (due, order, to, frame)
        self.order = 0

    def command(self, line: str) -> None:
        words = line.split()
        if words == ["cut"]:
            self.cut = True
        elif words == ["heal"]:
            self.cut = False
        elif len(words) == 3 and words[0] == "impair":
            self.delay, self.loss = float(words[1]) / 1000, float(words[2])
        elif words == ["clear"]:
            self.delay, self.loss = 0.0, 0.0
        else:
            raise SystemExit(f"wire: unknown command {line!r}")

    def receive(self, fd: int) -> None:
        """Take every frame waiting on ``fd``; keep those the faults let through."""
        while True:
            try:
                frame = os.read(fd, _MAX_FRAME)
            except BlockingIOError:
                return
            if self.cut or (self.loss and self.rng.random() < self.loss):
                continue
            self.order += 1
            due = time.monotonic() + self.delay
            heapq.heappush(self.in_flight, (due, self.order, self.other[fd], frame))

    def deliver(self) -> float | None:
        """Write the frames that are due; the seconds until the next one, or None."""
        while self.in_flight:
            due, _, to, frame = self.in_flight[0]
            wait = due - time.monotonic()
            if wait > 0:
                return wait
            heapq.heappop(self.in_flight)
            if not self.cut:  # a frame in flight when the cable was cut is lost with it
                # A far device that is down drops the frame, as a wire would.
                with contextlib.suppress(OSError):
                    os.write(to, frame)
        return None


def main() -> int:
    name_a, name_b = sys.argv[1:3]
    a, b = open_tap(name_a), open_tap(name_b)
    wire = Wire(a, b)
    control = sys.stdin.fileno()
    pending = b""  # commands read but not yet whole lines (select sees the fd, not a buffer)
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select([a, b, control], [], [], wire.deliver())
        for fd in ready:
            if fd != control:
                wire.receive(fd)
                continue
            chunk = os.read(control, 4096)
            if not chunk:
                return 0
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                wire.command(line.decode())
                print(f"ok {line.decode().strip()}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
