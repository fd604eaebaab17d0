"""One store call at a time on a helper thread, while the supervisor's loop goes on.

While children are busy, the loop sends the call that records the outcomes
gathered so far and claims the next jobs (``complete_and_claim``) to a
helper thread and keeps handing jobs out and collecting outcomes; it takes
the call's answer at its next step. The store's round trip and its work
then overlap the supervisor's own, instead of adding to it.

The helper only runs the call: every change to the loop's state (the
buffer, the recorder) is made by the loop's thread when it takes the answer,
so none is shared. The backends are safe to call from several threads (each
holds a lock around its connection), so a call the loop makes meanwhile
(a heartbeat, a flush) waits for the one in flight and goes next.

A finished call writes a byte to a pipe that the loop's selector watches,
so a loop waiting for its children wakes to take the answer.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from conveyor.backends import Completion, JobRecord

Answer = tuple[list[bool], list[JobRecord]]


@dataclass
class Call:
    """A ``complete_and_claim`` sent to the helper: what it records, and when it was sent."""

    batch: list[Completion]  # the outcomes it records (back to the recorder if it fails)
    claimed_at: float  # monotonic, before it was sent: the claimed jobs' fences count from here
    future: concurrent.futures.Future[Answer]


class Helper:
    """The thread (started on first use) and the wake-up pipe."""

    def __init__(self) -> None:
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self.wake_fd, self._write_fd = os.pipe()
        os.set_blocking(self.wake_fd, False)
        os.set_blocking(self._write_fd, False)
        self.closed = False

    def fds(self) -> tuple[int, int]:
        """Both ends of the wake-up pipe (which no child should keep)."""
        return self.wake_fd, self._write_fd

    def send(self, call: Callable[[], Answer]) -> concurrent.futures.Future[Answer]:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="conveyor-store"
            )
        future = self._executor.submit(call)
        future.add_done_callback(self._wake)
        return future

    def _wake(self, _: object) -> None:
        # (full: a wake-up is waiting already; closed: the loop has ended)
        with contextlib.suppress(OSError):
            os.write(self._write_fd, b"\0")

    def drain(self) -> None:
        """Read the wake-up bytes (the loop looks at the call itself)."""
        with contextlib.suppress(OSError):  # BlockingIOError: nothing (more) to read
            while os.read(self.wake_fd, 512):
                pass

    def stop_thread(self) -> None:
        """End the thread, once the call it runs (if any) has returned; the next send
        starts another.

        Called before each fork: the child then gets a copy of a process with
        one thread, the loop's (a fork beside another thread may copy a lock it
        holds, and Python 3.12 and later warn about it).
        """
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.stop_thread()
        os.close(self.wake_fd)
        os.close(self._write_fd)
