"""Tools for testing code built on conveyor, and backends written for it.

:class:`BackendConformance` is the backend conformance suite: the tests that
define "a backend works". A backend (conveyor's own or a third party's) runs
it, unchanged, by subclassing it in a pytest test module and providing two
fixtures::

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

This package needs pytest; ``import conveyor`` does not import it.
"""

import pytest

# Plain asserts in the suite explain their failures, as in a test module.
pytest.register_assert_rewrite("conveyor.testing.conformance")

from conveyor.testing.conformance import BackendConformance  # noqa: E402

__all__ = ["BackendConformance"]
