"""How a worker is asked to stop: a count of requests, and a pipe that wakes its loop.

A signal handler, a ``stop`` command read at the heartbeat, or the caller of
``Worker.request_stop()`` asks; the first request is a warm shut down
(finish what runs, claim nothing more), the second a cold one. The write to
the pipe makes a loop blocked in ``poll`` or a claim return at once.
"""

from __future__ import annotations

import contextlib
import logging
import os

log = logging.getLogger("conveyor.worker")


class StopFlag:
    """Whether a worker should stop, and the pipe that tells its loop at once."""

    def __init__(self, worker_name: str) -> None:
        self.worker_name = worker_name
        self.requests = 0
        # Plain attributes, not properties: the loop reads them several times a job.
        self.stopping = False  # a warm shut down (or a cold one) was requested
        self.stopping_now = False  # a cold shut down was requested
        self._read, self._write = -1, -1

    def open(self) -> None:
        """Make the wake-up pipe (for one run of the worker)."""
        self._read, self._write = os.pipe()
        # Both ends non-blocking: a signal handler must never block on a full
        # pipe, and draining an empty pipe (after a timed-out wait) must not hang.
        os.set_blocking(self._write, False)
        os.set_blocking(self._read, False)

    def close(self) -> None:
        for fd in (self._read, self._write):
            if fd >= 0:
                os.close(fd)
        self._read, self._write = -1, -1

    @property
    def wake_fd(self) -> int:
        """The read end of the pipe: readable once a stop was requested."""
        return self._read

    def fds(self) -> tuple[int, int]:
        """Both ends of the pipe, for children to close."""
        return self._read, self._write

    def request(self) -> None:
        """Ask for a warm shut down (a second call asks for a cold one)."""
        self.requests += 1
        self.stopping = True
        self.stopping_now = self.requests >= 2
        if self.requests == 1:
            log.info("Worker %s: warm shut down requested", self.worker_name)
        else:
            log.warning("Worker %s: cold shut down requested", self.worker_name)
        if self._write >= 0:
            with contextlib.suppress(OSError):
                os.write(self._write, b"x")

    def drain(self) -> None:
        """Empty the pipe, so the next wait blocks again."""
        with contextlib.suppress(BlockingIOError):
            os.read(self._read, 1024)
