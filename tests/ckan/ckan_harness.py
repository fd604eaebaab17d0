"""pytest plugin for running CKAN's own job tests, and ours, with conveyor as the job system.

Loaded with ``-p ckan_harness`` by tests/ckan/run.sh. It:

- gives every test a fresh conveyor store of the kind named by
  ``CONVEYOR_CKAN_STORE`` (sqlite, redis or postgresql), through the
  ``CONVEYOR_BACKEND`` environment variable, which conveyor's CKAN settings
  read before the ini and which survives CKAN reloading its config (every
  ``cli.invoke`` does) and reaches worker children;
- replaces ``ckan.tests.helpers.RQTestBase.all_jobs``, CKAN's test helper
  that reads RQ's keys in Redis directly (``rq.Queue.all``), with one that
  lists the jobs waiting in conveyor: the one deliberate change to CKAN's
  tests, announced in the report header and in docs/differences.md;
- checks that the conveyor plugin did install itself (the report header
  says which job system ran the tests).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

STORE = os.environ.get("CONVEYOR_CKAN_STORE", "sqlite")
PG_SERVER = "postgresql://postgres@127.0.0.1:5432/test"


def conveyor_all_jobs(self: Any) -> list[Any]:
    """Every job waiting in this site's conveyor queues, queue by queue, in run order."""
    from ckan.lib import jobs

    found = []
    for queue in jobs.get_all_queues():
        found.extend(jobs.job_from_id(job_id) for job_id in queue.job_ids)
    return found


def pytest_configure(config: pytest.Config) -> None:
    from ckan.tests import helpers

    helpers.RQTestBase.all_jobs = conveyor_all_jobs


def pytest_report_header(config: pytest.Config) -> list[str]:
    from ckan.lib import jobs

    from conveyor.ckan import jobs as conveyor_jobs

    system = "conveyor" if conveyor_jobs.installed() else "RQ (conveyor plugin NOT installed)"
    return [
        f"CKAN job system: {system}; conveyor store: {STORE}",
        "changed in CKAN's tests: RQTestBase.all_jobs lists conveyor's waiting jobs"
        " (CKAN's version reads RQ's Redis keys); see docs/differences.md",
        f"ckan.lib.jobs.enqueue is {jobs.enqueue.__module__}.{jobs.enqueue.__qualname__}",
    ]


def _fresh_url(tmp_path: Any) -> tuple[str, Any]:
    if STORE == "sqlite":
        return f"sqlite:///{tmp_path}/conveyor.sqlite3", None
    if STORE == "redis":
        return f"redis://127.0.0.1:6379/0?namespace=cvckan-{uuid.uuid4().hex[:12]}", None
    if STORE == "postgresql":
        schema = f"cvckan_{uuid.uuid4().hex[:12]}"
        return f"{PG_SERVER}?schema={schema}", schema
    raise pytest.UsageError(f"CONVEYOR_CKAN_STORE must be sqlite, redis or postgresql: {STORE}")


def _cleanup(url: str, schema: str | None) -> None:
    if STORE == "redis":
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379)
        namespace = url.rsplit("namespace=", 1)[1]
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    elif schema is not None:
        import psycopg

        with psycopg.connect(PG_SERVER, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(autouse=True)
def conveyor_store(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A conveyor store of this test's own."""
    from conveyor import backends

    url, schema = _fresh_url(tmp_path)
    monkeypatch.setenv("CONVEYOR_BACKEND", url)
    yield url
    backends.close_shared()
    _cleanup(url, schema)


@pytest.fixture(scope="session", autouse=True)
def conveyor_installed() -> None:
    """Fail every test at once if the plugin did not put conveyor in place."""
    from conveyor.ckan import jobs as conveyor_jobs

    if not conveyor_jobs.installed():
        pytest.fail("the conveyor CKAN plugin is not installed: CKAN's jobs would run on RQ")
