"""The backend conformance suite: what "a backend works" means, as tests.

:class:`BackendConformance` is a mixin of pytest tests that exercise the
interface in :mod:`conveyor.backends.base` and nothing else, so it runs
unchanged against every backend. A backend's test class subclasses it and
provides two fixtures: ``backend``, a fresh instance on an empty store, and
``other_backend``, a second instance on the same store, as another process
would open it.

Time is passed in as ``now`` (a frozen clock), so no test sleeps; the only
wall-clock waits are the ones the tests of ``claim(wait=...)`` are about.
"""

from __future__ import annotations

import pytest

from conveyor.backends.base import Backend
from conveyor.testing.conformance.cancel import CancelConformance
from conveyor.testing.conformance.claim import ClaimConformance
from conveyor.testing.conformance.complete import CompleteConformance
from conveyor.testing.conformance.complete_and_claim import CompleteAndClaimConformance
from conveyor.testing.conformance.control import ControlConformance
from conveyor.testing.conformance.counts import CountsConformance, StatsConformance
from conveyor.testing.conformance.enqueue import EnqueueConformance
from conveyor.testing.conformance.leases import LeaseConformance
from conveyor.testing.conformance.listing import ListingConformance
from conveyor.testing.conformance.meta import MetaConformance
from conveyor.testing.conformance.periodic import PeriodicConformance
from conveyor.testing.conformance.requeue import RequeueConformance
from conveyor.testing.conformance.retention import RetentionConformance
from conveyor.testing.conformance.run_now import RunNowConformance
from conveyor.testing.conformance.scheduling import IdReuseConformance, SchedulingConformance
from conveyor.testing.conformance.tokens import TokenConformance
from conveyor.testing.conformance.waiting import WaitConformance
from conveyor.testing.conformance.workers import WorkerRegistryConformance

__all__ = [
    "BackendConformance",
    "CancelConformance",
    "ClaimConformance",
    "CompleteAndClaimConformance",
    "CompleteConformance",
    "ControlConformance",
    "CountsConformance",
    "EnqueueConformance",
    "IdReuseConformance",
    "LeaseConformance",
    "ListingConformance",
    "MetaConformance",
    "PeriodicConformance",
    "RequeueConformance",
    "RetentionConformance",
    "RunNowConformance",
    "SchedulingConformance",
    "StatsConformance",
    "TokenConformance",
    "WaitConformance",
    "WorkerRegistryConformance",
]


class BackendConformance(
    EnqueueConformance,
    ClaimConformance,
    CompleteConformance,
    CompleteAndClaimConformance,
    LeaseConformance,
    RetentionConformance,
    ListingConformance,
    CancelConformance,
    MetaConformance,
    RequeueConformance,
    RunNowConformance,
    SchedulingConformance,
    IdReuseConformance,
    WaitConformance,
    WorkerRegistryConformance,
    TokenConformance,
    PeriodicConformance,
    ControlConformance,
    CountsConformance,
    StatsConformance,
):
    """Every conformance test; subclass it and provide the two fixtures.

    ``backend`` yields a fresh backend on an empty store (and closes it
    afterwards); ``other_backend`` yields a second instance on the same
    store, as another process would open it.
    """

    @pytest.fixture
    def backend(self) -> Backend:
        pytest.fail("Subclass BackendConformance and provide a `backend` fixture")

    @pytest.fixture
    def other_backend(self) -> Backend:
        pytest.fail("Subclass BackendConformance and provide an `other_backend` fixture")
