"""Conformance: periodic-job entries, and taking each tick exactly once."""

from __future__ import annotations

import threading

import pytest

from conveyor.backends.base import Backend, JobState
from conveyor.backends.periodic import PeriodicDeclaration
from conveyor.exceptions import DuplicateJobError
from conveyor.testing.conformance.support import NOW, OTHER_QUEUE, QUEUE, new_job, stored

NAME = "conveyor:conformance:nightly"


def declared(
    name: str = NAME, baseline: float = NOW - 60, schedule: str = "every 60", queue: str = QUEUE
) -> PeriodicDeclaration:
    """A periodic job's declaration."""
    return PeriodicDeclaration(
        name=name,
        schedule=schedule,
        timezone="UTC",
        func="conveyor_test_jobs:succeed",
        queue=queue,
        baseline=baseline,
    )


class PeriodicConformance:
    """Entries keep their state across declarations; a tick is taken once, with its job."""

    def test_a_declared_job_is_listed_enabled_at_its_baseline(self, backend: Backend) -> None:
        backend.declare_periodic([declared()], now=NOW)
        (entry,) = backend.periodic_entries("conveyor:conformance:")
        assert (entry.name, entry.schedule, entry.timezone) == (NAME, "every 60", "UTC")
        assert (entry.func, entry.queue) == ("conveyor_test_jobs:succeed", QUEUE)
        assert entry.enabled
        assert entry.last_tick == NOW - 60
        assert (entry.last_job_id, entry.last_enqueued_at) == (None, None)
        assert entry.declared_at == NOW

    def test_entries_are_listed_per_site_sorted_by_name(self, backend: Backend) -> None:
        names = ["conveyor:conformance:b", "conveyor:elsewhere:a", "conveyor:conformance:a"]
        backend.declare_periodic([declared(name) for name in names], now=NOW)
        listed = [e.name for e in backend.periodic_entries("conveyor:conformance:")]
        assert listed == ["conveyor:conformance:a", "conveyor:conformance:b"]
        assert [e.name for e in backend.periodic_entries("conveyor:other:")] == []

    def test_declaring_again_updates_the_definition_but_keeps_the_state(
        self, backend: Backend
    ) -> None:
        backend.declare_periodic([declared()], now=NOW)
        job = new_job("tick-1")
        assert backend.claim_tick(NAME, NOW, job, now=NOW + 1)
        backend.set_periodic_enabled(NAME, False)
        again = declared(baseline=NOW + 600, schedule="cron */5 * * * *", queue=OTHER_QUEUE)
        backend.declare_periodic([again], now=NOW + 2)
        (entry,) = backend.periodic_entries("conveyor:conformance:")
        assert (entry.schedule, entry.queue, entry.declared_at) == (
            "cron */5 * * * *",
            OTHER_QUEUE,
            NOW + 2,
        )
        assert not entry.enabled
        assert (entry.last_tick, entry.last_job_id, entry.last_enqueued_at) == (
            NOW,
            "tick-1",
            NOW + 1,
        )

    def test_taking_a_tick_enqueues_its_job(self, backend: Backend) -> None:
        backend.declare_periodic([declared()], now=NOW)
        assert backend.claim_tick(NAME, NOW, new_job("tick-1"), now=NOW + 0.5)
        record = stored(backend, "tick-1")
        assert (record.state, record.queue, record.enqueued_at) == (
            JobState.QUEUED,
            QUEUE,
            NOW + 0.5,
        )
        (entry,) = backend.periodic_entries("conveyor:conformance:")
        assert (entry.last_tick, entry.last_job_id) == (NOW, "tick-1")

    def test_a_tick_is_taken_once(self, backend: Backend, other_backend: Backend) -> None:
        backend.declare_periodic([declared()], now=NOW)
        assert backend.claim_tick(NAME, NOW, new_job("first"), now=NOW)
        assert not other_backend.claim_tick(NAME, NOW, new_job("second"), now=NOW)
        assert not backend.claim_tick(NAME, NOW - 60, new_job("earlier"), now=NOW)
        assert backend.get("second") is None
        assert backend.get("earlier") is None
        assert other_backend.claim_tick(NAME, NOW + 60, new_job("next"), now=NOW + 60)

    def test_the_baseline_tick_counts_as_taken(self, backend: Backend) -> None:
        backend.declare_periodic([declared(baseline=NOW)], now=NOW)
        assert not backend.claim_tick(NAME, NOW, new_job("baseline"), now=NOW)
        assert backend.get("baseline") is None

    def test_racing_takers_enqueue_one_job_per_tick(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        backend.declare_periodic([declared()], now=NOW)
        won: list[str] = []
        start = threading.Barrier(2)

        def take(store: Backend, label: str) -> None:
            start.wait()
            for tick in range(10):
                job = new_job(f"{label}-{tick}")
                if store.claim_tick(NAME, NOW + tick * 60, job, now=NOW + tick * 60):
                    won.append(job.id)

        threads = [
            threading.Thread(target=take, args=(store, label))
            for store, label in ((backend, "a"), (other_backend, "b"))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(int(job_id.split("-")[1]) for job_id in won) == list(range(10))
        queued = backend.count([QUEUE])[QUEUE].get(JobState.QUEUED, 0)
        assert queued == 10

    def test_a_skipped_tick_is_taken_without_a_job(self, backend: Backend) -> None:
        backend.declare_periodic([declared()], now=NOW)
        assert backend.claim_tick(NAME, NOW, None, now=NOW + 120)
        assert not backend.claim_tick(NAME, NOW, new_job("late"), now=NOW + 120)
        (entry,) = backend.periodic_entries("conveyor:conformance:")
        assert (entry.last_tick, entry.last_job_id) == (NOW, None)
        assert backend.count([QUEUE]).get(QUEUE, {}).get(JobState.QUEUED, 0) == 0

    def test_a_disabled_job_takes_no_tick_until_enabled(self, backend: Backend) -> None:
        backend.declare_periodic([declared()], now=NOW)
        entry = backend.set_periodic_enabled(NAME, False)
        assert entry is not None
        assert not entry.enabled
        assert not backend.claim_tick(NAME, NOW, new_job("off"), now=NOW)
        assert backend.get("off") is None
        entry = backend.set_periodic_enabled(NAME, True)
        assert entry is not None
        assert entry.enabled
        assert backend.claim_tick(NAME, NOW, new_job("on"), now=NOW)

    def test_an_undeclared_job_takes_no_tick(self, backend: Backend) -> None:
        assert not backend.claim_tick(NAME, NOW, new_job("nobody"), now=NOW)
        assert backend.get("nobody") is None
        assert backend.set_periodic_enabled(NAME, False) is None

    def test_a_duplicate_job_id_leaves_the_tick_untaken(self, backend: Backend) -> None:
        backend.declare_periodic([declared()], now=NOW)
        backend.enqueue([new_job("taken-id")], now=NOW)
        with pytest.raises(DuplicateJobError, match="taken-id"):
            backend.claim_tick(NAME, NOW, new_job("taken-id"), now=NOW)
        (entry,) = backend.periodic_entries("conveyor:conformance:")
        assert entry.last_tick == NOW - 60
        assert backend.claim_tick(NAME, NOW, new_job("fresh-id"), now=NOW)

    def test_a_forgotten_entry_is_gone_but_its_jobs_stay(self, backend: Backend) -> None:
        backend.declare_periodic([declared()], now=NOW)
        backend.claim_tick(NAME, NOW, new_job("kept"), now=NOW)
        assert backend.forget_periodic(NAME)
        assert not backend.forget_periodic(NAME)
        assert backend.periodic_entries("conveyor:conformance:") == []
        assert stored(backend, "kept").state is JobState.QUEUED
        assert not backend.claim_tick(NAME, NOW + 60, new_job("after"), now=NOW + 60)
