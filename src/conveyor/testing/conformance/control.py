"""Conformance: paused queues and commands to workers (conveyor.backends.control)."""

from __future__ import annotations

from conveyor.backends.base import Backend, JobState
from conveyor.backends.control import QUIET, STOP, WorkerControl
from conveyor.testing.conformance.support import (
    LEASE,
    NOW,
    OTHER_QUEUE,
    QUEUE,
    THIRD_QUEUE,
    WORKER,
    new_job,
)

SITE = "conveyor:conformance:"
FOREIGN = "conveyor:elsewhere:default"


class ControlConformance:
    """Queues pause and resume; workers find their paused queues and commands."""

    def test_pausing_reports_the_queues_that_changed(self, backend: Backend) -> None:
        assert backend.paused_queues(SITE) == []
        assert backend.set_paused([QUEUE, OTHER_QUEUE], True, now=NOW) == [QUEUE, OTHER_QUEUE]
        assert backend.set_paused([OTHER_QUEUE, THIRD_QUEUE], True, now=NOW) == [THIRD_QUEUE]
        assert backend.paused_queues(SITE) == sorted([QUEUE, OTHER_QUEUE, THIRD_QUEUE])

    def test_resuming_reports_the_queues_that_were_paused(self, backend: Backend) -> None:
        backend.set_paused([QUEUE], True, now=NOW)
        assert backend.set_paused([QUEUE, OTHER_QUEUE], False, now=NOW) == [QUEUE]
        assert backend.set_paused([QUEUE], False, now=NOW) == []
        assert backend.paused_queues(SITE) == []

    def test_nothing_given_changes_nothing(self, backend: Backend) -> None:
        assert backend.set_paused([], True, now=NOW) == []
        assert backend.set_paused([QUEUE, QUEUE], True, now=NOW) == [QUEUE]
        assert backend.paused_queues(SITE) == [QUEUE]

    def test_paused_queues_are_listed_per_site(self, backend: Backend) -> None:
        backend.set_paused([FOREIGN, QUEUE], True, now=NOW)
        assert backend.paused_queues(SITE) == [QUEUE]
        assert backend.paused_queues("conveyor:elsewhere:") == [FOREIGN]

    def test_pausing_leaves_the_jobs_alone(self, backend: Backend) -> None:
        backend.enqueue([new_job("a"), new_job("b")], now=NOW)
        (started,) = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=1)
        backend.set_paused([QUEUE], True, now=NOW)
        assert backend.count([QUEUE])[QUEUE][JobState.QUEUED] == 1
        assert backend.count([QUEUE])[QUEUE][JobState.STARTED] == 1
        record = backend.get(started.id)
        assert record is not None
        assert record.state is JobState.STARTED

    def test_another_instance_sees_the_pause(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        backend.set_paused([QUEUE], True, now=NOW)
        assert other_backend.paused_queues(SITE) == [QUEUE]
        control = other_backend.worker_control("w1", [QUEUE, OTHER_QUEUE])
        assert control == WorkerControl(paused=frozenset({QUEUE}), command=None)

    def test_a_worker_learns_only_its_own_queues_and_command(self, backend: Backend) -> None:
        backend.set_paused([QUEUE, FOREIGN], True, now=NOW)
        backend.command_worker("w1", QUIET, now=NOW)
        assert backend.worker_control("w1", [QUEUE, OTHER_QUEUE]) == WorkerControl(
            paused=frozenset({QUEUE}), command=QUIET
        )
        assert backend.worker_control("w2", [OTHER_QUEUE]) == WorkerControl(
            paused=frozenset(), command=None
        )
        assert backend.worker_control("w2", []) == WorkerControl(paused=frozenset(), command=None)

    def test_stop_is_never_downgraded_to_quiet(self, backend: Backend) -> None:
        backend.command_worker("w1", QUIET, now=NOW)
        backend.command_worker("w1", STOP, now=NOW)
        backend.command_worker("w1", QUIET, now=NOW + 1)
        assert backend.worker_control("w1", [QUEUE]).command == STOP

    def test_a_forgotten_command_is_gone(self, backend: Backend) -> None:
        backend.command_worker("w1", STOP, now=NOW)
        backend.forget_worker_command("w1")
        backend.forget_worker_command("never-commanded")
        assert backend.worker_control("w1", [QUEUE]).command is None
