"""Shared fixtures: every test gets its own SQLite database and configuration."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import conveyor
from conveyor import backends
from conveyor import config as conveyor_config
from support import StartWorker, WorkerProcess, worker_processes  # tests/: pytest's rootdir path

TESTS_DIR = Path(__file__).parent
# tests/ckan runs in its own venv with CKAN installed (`make ckan-test`), not here.
collect_ignore = ["ckan"]
SITE_ID = "test.conveyor"

# Job functions live in an importable module so children (and CLI workers
# started as subprocesses, via PYTHONPATH) can import them. The test modules sit in
# subdirectories by kind (unit, backends, worker, acceptance); the helpers stay here.
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))


@pytest.fixture(autouse=True)
def conveyor_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[conveyor.Config]:
    """A fresh database in tmp_path, configured for this test only."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("CONVEYOR_") or name in {"CKAN_SITE_ID", "CKAN_REDIS_URL"}:
            monkeypatch.delenv(name)
    config = conveyor.configure(
        settings={
            "conveyor.backend": f"sqlite:///{tmp_path}/jobs.sqlite3",
            "conveyor.site_id": SITE_ID,
        }
    )
    yield config
    backends.close_shared()
    conveyor_config.install(None)


@pytest.fixture
def subprocess_env(
    conveyor_env: conveyor.Config, request: pytest.FixtureRequest
) -> dict[str, str]:
    """Environment for a `conveyor` subprocess that sees the test's database and jobs.

    Its PYTHONPATH holds tests/ (the job modules) and the test module's own directory, as
    pytest's sys.path does in this process: a job function defined in the test module itself
    is imported by a worker process as ``test_module:function``.
    """
    env = dict(os.environ)
    env["CONVEYOR_BACKEND"] = conveyor_env.backend
    env["CONVEYOR_SITE_ID"] = conveyor_env.site_id
    paths = dict.fromkeys([str(TESTS_DIR), str(request.path.parent), env.get("PYTHONPATH")])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    return env


@pytest.fixture
def worker_env(subprocess_env: dict[str, str]) -> dict[str, str]:
    """The environment ``start_worker`` gives its workers: a test module may override it."""
    return subprocess_env


@pytest.fixture
def start_worker(worker_env: dict[str, str], tmp_path: Path) -> Iterator[StartWorker]:
    """The tests' one way to start ``conveyor jobs worker ARGS`` as a process of its own.

    ``start_worker(*args, env=None, **settings)`` runs it with ``env`` (default: the
    ``worker_env`` fixture) plus ``settings`` as environment variables
    (``CONVEYOR_WORKER_LEASE="2"``), its output in files under tmp_path. Every worker started
    is killed, with its process group, by pid when the test ends.
    """
    with worker_processes(tmp_path) as start_in:

        def start(*args: str, env: dict[str, str] | None = None, **settings: str) -> WorkerProcess:
            return start_in(list(args), {**(worker_env if env is None else env), **settings})

        yield start


REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def _service_missing(name: str, why: str) -> None:
    """Skip locally with a loud reason; under CI a missing service is a failure."""
    message = f"{name} is not reachable ({why}); its tests cannot run"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL with a namespace of its own: parallel tests never share keys."""
    redis = pytest.importorskip("redis")
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        _service_missing(f"Redis at {REDIS_HOST}:{REDIS_PORT}", str(exc))
    namespace = f"cvtest-{uuid.uuid4().hex[:12]}"
    yield f"redis://{REDIS_HOST}:{REDIS_PORT}/0?namespace={namespace}"
    keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


POSTGRESQL_SERVER = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "redis", "postgresql"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Each kind of store in turn: a test that asks for it (or for ``store_kind_url``) runs once
    on each."""
    return str(request.param)


@pytest.fixture
def store_kind_url(
    store_kind: str, conveyor_env: conveyor.Config, request: pytest.FixtureRequest
) -> str:
    """A store of ``store_kind`` for this test alone: the SQLite file ``conveyor_env``
    configured, or a Redis namespace or PostgreSQL schema of its own (``redis_url``,
    ``postgresql_url``)."""
    if store_kind == "sqlite":
        return conveyor_env.backend
    return str(request.getfixturevalue(f"{store_kind}_url"))


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """A PostgreSQL URL with a schema of its own: parallel tests never share tables."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(POSTGRESQL_SERVER, autocommit=True, connect_timeout=2)
    except psycopg.Error as exc:
        _service_missing(f"PostgreSQL at {POSTGRESQL_SERVER}", str(exc))
    schema = f"cvtest_{uuid.uuid4().hex[:12]}"
    yield f"{POSTGRESQL_SERVER}?schema={schema}"
    with admin:
        admin.execute("SET lock_timeout = '20s'")
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
