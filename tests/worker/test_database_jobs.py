"""Jobs using SQLAlchemy (examples/sqlalchemy_jobs.py): no connection is shared across a fork.

The worker is run in-process: this test process is the supervisor, holding
an engine with an open pooled connection as an application would, and the
jobs run in forked children against an SQLite database file.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

import conveyor
from conveyor import JobState
from support import ROOT

EXAMPLES = ROOT / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))
# The example module, importable (by workers too) once examples/ is on the path.
sqlalchemy_jobs = importlib.import_module("sqlalchemy_jobs")

INIT = "sqlalchemy_jobs:init_engine"
BEFORE_FORK = "sqlalchemy_jobs:dispose_engine"


@pytest.fixture
def parent_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The example's engine in this (the supervisor's) process, with a pooled connection open."""
    monkeypatch.setattr(sqlalchemy_jobs, "DATABASE_URL", f"sqlite:///{tmp_path}/app.sqlite3")
    monkeypatch.setattr(sqlalchemy_jobs, "_engine", None)
    monkeypatch.setattr(sqlalchemy_jobs, "_engine_pid", None)
    sqlalchemy_jobs.create_tables()
    engine = sqlalchemy_jobs.engine()
    assert engine.pool.checkedin() == 1  # the connection create_tables used, kept open
    yield engine
    engine.dispose()


def results(jobs: list[conveyor.Job]) -> list[dict[str, Any]]:
    found = [conveyor.job_from_id(job.id) for job in jobs]
    assert [job.state for job in found] == [JobState.FINISHED] * len(jobs), [
        job.error for job in found
    ]
    return [job.result for job in found]


def test_each_child_uses_an_engine_and_connections_it_created_itself(parent_engine: Any) -> None:
    parent_closed: list[tuple[int, int]] = []
    event.listen(  # fires in this process when the before-fork hook closes pooled connections
        parent_engine,
        "close",
        lambda dbapi_connection, record: parent_closed.append((os.getpid(), record.info["pid"])),
    )
    jobs = [conveyor.enqueue(sqlalchemy_jobs.record_visit, [f"visit {n}"]) for n in range(4)]

    worker = conveyor.Worker(concurrency=2, isolation="job", init=INIT, before_fork=BEFORE_FORK)
    assert worker.work(burst=True) is True

    ran = results(jobs)
    pids = {result["pid"] for result in ran}
    assert len(pids) == 4  # a fresh child for every job, two at a time
    assert os.getpid() not in pids
    for result in ran:
        assert result["engine_pid"] == result["pid"]  # made by the child's init hook
        assert result["connection_pid"] == result["pid"]  # opened by the child itself
    # The supervisor's own connection was closed here, before the children were forked.
    assert parent_closed == [(os.getpid(), os.getpid())]
    assert parent_engine.pool.checkedin() == 0
    with parent_engine.connect() as connection:
        rows = connection.execute(select(sqlalchemy_jobs.visits)).all()
    assert sorted(row.name for row in rows) == [f"visit {n}" for n in range(4)]
    assert all(row.connection_pid == row.pid for row in rows)


def test_reused_children_keep_their_own_engine_across_jobs(parent_engine: Any) -> None:
    jobs = [conveyor.enqueue(sqlalchemy_jobs.record_visit, [f"visit {n}"]) for n in range(9)]

    worker = conveyor.Worker(concurrency=3, init=INIT, before_fork=BEFORE_FORK)
    assert worker.work(burst=True) is True

    ran = results(jobs)
    assert os.getpid() not in {result["pid"] for result in ran}
    for result in ran:
        assert result["engine_pid"] == result["pid"]
        assert result["connection_pid"] == result["pid"]
    with parent_engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(sqlalchemy_jobs.visits))
        assert count.scalar_one() == 9


def test_without_the_hooks_a_child_borrows_the_parents_connection(parent_engine: Any) -> None:
    """Why the hooks exist: a forked child's copy of the pool hands out the parent's connection."""
    job = conveyor.enqueue(sqlalchemy_jobs.connection_origin)

    assert conveyor.Worker().work(burst=True) is True

    [result] = results([job])
    assert result["pid"] != os.getpid()
    assert result["connection_pid"] == os.getpid()  # opened by the supervisor, used by a child
