"""The backend conformance suite, run against every backend conveyor ships.

A backend joins by adding a class here that subclasses BackendConformance
and provides ``backend`` (a fresh store) and ``other_backend`` (a second
instance on the same store).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.backends import Backend, open_backend
from conveyor.backends.sqlite import SQLiteBackend
from conveyor.testing import BackendConformance


class TestSQLiteBackend(BackendConformance):
    @pytest.fixture
    def database(self, tmp_path: Path) -> Path:
        return tmp_path / "conformance.sqlite3"

    @pytest.fixture
    def backend(self, database: Path) -> Iterator[SQLiteBackend]:
        store = SQLiteBackend(database)
        yield store
        store.close()

    @pytest.fixture
    def other_backend(self, backend: SQLiteBackend, database: Path) -> Iterator[SQLiteBackend]:
        store = SQLiteBackend(database)
        yield store
        store.close()


class TestRedisBackend(BackendConformance):
    @pytest.fixture
    def backend(self, redis_url: str) -> Iterator[Backend]:
        store = open_backend(redis_url)
        yield store
        store.close()

    @pytest.fixture
    def other_backend(self, backend: Backend, redis_url: str) -> Iterator[Backend]:
        store = open_backend(redis_url)
        yield store
        store.close()


class TestPostgreSQLBackend(BackendConformance):
    @pytest.fixture
    def backend(self, postgresql_url: str) -> Iterator[Backend]:
        store = open_backend(postgresql_url)
        yield store
        store.close()

    @pytest.fixture
    def other_backend(self, backend: Backend, postgresql_url: str) -> Iterator[Backend]:
        store = open_backend(postgresql_url)
        yield store
        store.close()
