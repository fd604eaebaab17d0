"""Tools for testing code built on conveyor, and backends written for it.

Code that enqueues jobs (see ``docs/testing.md``):

- :func:`run_synchronously`, a context manager: every job enqueued inside
  it runs at once, in this process, its exception reaching the test;
- :func:`run_jobs`: run the jobs queued so far, here and now, and get them
  back with their outcome;
- the pytest plugin (``conveyor.testing.plugin``, loaded automatically when
  conveyor is installed) offers both as the fixtures ``conveyor_sync`` and
  ``conveyor_run_jobs``, and a fresh job store per test as
  ``conveyor_tmp_backend``.

Backends: :class:`BackendConformance` is the backend conformance suite, the
tests that define "a backend works". A backend (conveyor's own or a third
party's) runs it, unchanged, by subclassing it in a pytest test module and
providing two fixtures::

    import pytest
    from conveyor.testing import BackendConformance

    class TestMyBackend(BackendConformance):
        @pytest.fixture
        def backend(self, tmp_path):
            store = MyBackend.from_url(...)      # a fresh, empty store
            yield store
            store.close()

        @pytest.fixture
        def other_backend(self, backend):
            store = MyBackend.from_url(...)      # a second instance on the same store
            yield store
            store.close()

The conformance suite and the plugin need pytest; the rest does not, and
``import conveyor`` imports none of this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from conveyor.testing.sync import run_jobs, run_synchronously

if TYPE_CHECKING:
    from conveyor.testing.conformance import BackendConformance

__all__ = ["BackendConformance", "run_jobs", "run_synchronously"]


def __getattr__(name: str) -> Any:
    # The suite is imported on first use, so that run_synchronously needs no pytest.
    if name == "BackendConformance":
        pytest = importlib.import_module("pytest")
        # Plain asserts in the suite explain their failures, as in a test module.
        pytest.register_assert_rewrite("conveyor.testing.conformance")
        suite = importlib.import_module("conveyor.testing.conformance").BackendConformance
        globals()[name] = suite
        return suite
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
