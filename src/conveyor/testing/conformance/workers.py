"""Conformance: the worker registry and its heartbeat."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from conveyor.backends.base import (
    Backend,
    WorkerInfo,
)
from conveyor.testing.conformance.support import (
    NOW,
    OTHER_QUEUE,
    QUEUE,
)


def worker_info(key: str, queues: Sequence[str] = (QUEUE,), **changes: Any) -> WorkerInfo:
    """A worker's registration."""
    info = WorkerInfo(
        key=key, queues=tuple(queues), host="host", pid=42, started_at=NOW, heartbeat_at=NOW
    )
    return dataclasses.replace(info, **changes)


class WorkerRegistryConformance:
    """Workers register with a heartbeat and vanish when it stops."""

    def test_a_registered_worker_is_listed_with_its_details(self, backend: Backend) -> None:
        info = worker_info("w1", jobs=("a",), finished=3, failed=1, state="busy")
        backend.register_worker(info, ttl=30, now=NOW)
        assert backend.workers("conveyor:conformance:", now=NOW + 1) == [info]

    def test_a_heartbeat_replaces_the_registration(self, backend: Backend) -> None:
        backend.register_worker(worker_info("w1"), ttl=30, now=NOW)
        later = worker_info("w1", heartbeat_at=NOW + 20, finished=9)
        backend.register_worker(later, ttl=30, now=NOW + 20)
        assert backend.workers("conveyor:conformance:", now=NOW + 40) == [later]

    def test_a_worker_whose_heartbeat_expired_is_gone(self, backend: Backend) -> None:
        backend.register_worker(worker_info("w1"), ttl=30, now=NOW)
        assert backend.workers("conveyor:conformance:", now=NOW + 31) == []

    def test_an_unregistered_worker_is_gone(self, backend: Backend) -> None:
        backend.register_worker(worker_info("w1"), ttl=30, now=NOW)
        backend.unregister_worker("w1")
        backend.unregister_worker("never-registered")
        assert backend.workers("conveyor:conformance:", now=NOW) == []

    def test_workers_are_listed_per_site_oldest_first(self, backend: Backend) -> None:
        older = worker_info("w-old", started_at=NOW - 10)
        newer = worker_info("w-new", queues=(OTHER_QUEUE, QUEUE))
        foreign = worker_info("w-foreign", queues=("conveyor:elsewhere:default",))
        for info in (newer, foreign, older):
            backend.register_worker(info, ttl=30, now=NOW)
        assert backend.workers("conveyor:conformance:", now=NOW) == [older, newer]
        assert backend.workers("conveyor:elsewhere:", now=NOW) == [foreign]
