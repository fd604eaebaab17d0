"""What a store keeps to steer workers: paused queues and commands to workers.

A paused queue is one whose jobs no worker claims. Pausing changes no job:
queued and scheduled jobs stay where they are (scheduled ones are still
promoted when due), and running ones finish. A worker command ("quiet" or
"stop") is addressed to one worker by its key.

Workers read both at their heartbeat, in one store call
(:meth:`ControlStore.worker_control`), and leave paused queues out of their
claims; so a pause or a resume takes effect within a heartbeat (at most two
seconds), and the claim itself stays as fast as before.

Layout: SQLite and PostgreSQL keep the tables ``conveyor_paused_queues`` and
``conveyor_worker_commands`` (migration 0004); Redis keeps the set
``paused-queues`` and a string ``worker-command:<worker key>`` per command.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

QUIET = "quiet"
STOP = "stop"
COMMANDS = (QUIET, STOP)

# A command outlives a worker that never read it (one killed outright) by no more than this.
COMMAND_TTL = 24 * 3600.0


@dataclass(frozen=True)
class WorkerControl:
    """What a worker learns at its heartbeat: which of its queues are paused, and its command."""

    paused: frozenset[str]
    command: str | None


class ControlStore(ABC):
    """The steering part of the backend interface (``Backend`` inherits it)."""

    @abstractmethod
    def set_paused(self, queues: Sequence[str], paused: bool, *, now: float) -> list[str]:
        """Pause (or resume) the queues of these full names.

        Returns those whose state changed, in the order given; pausing a
        paused queue, or resuming one that is not, changes nothing.
        """

    @abstractmethod
    def paused_queues(self, prefix: str) -> list[str]:
        """The full names of the paused queues that start with ``prefix``, sorted."""

    @abstractmethod
    def command_worker(self, key: str, command: str, *, now: float) -> None:
        """Leave ``command`` ("quiet" or "stop") for the worker of ``key``.

        A "stop" is never replaced by a later "quiet".
        """

    @abstractmethod
    def worker_control(self, key: str, queues: Sequence[str]) -> WorkerControl:
        """In one round trip: which of ``queues`` are paused, and the command for ``key``."""

    @abstractmethod
    def forget_worker_command(self, key: str) -> None:
        """Drop the command for ``key`` (the worker has stopped)."""
