"""conveyor's pytest plugin: fixtures for testing code that enqueues jobs.

Installed with conveyor and loaded by pytest through the ``pytest11`` entry
point. Nothing here is autouse: a test gets a fixture only by asking for it.

- ``conveyor_sync``: every job the test enqueues runs at once, in the test's
  process; the value is the list of jobs that ran.
- ``conveyor_run_jobs``: :func:`conveyor.testing.run_jobs`, to run the jobs
  queued so far.
- ``conveyor_tmp_backend``: a fresh SQLite job store in ``tmp_path`` for
  this test (the rest of the configuration stays as it is).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conveyor import backends
from conveyor import config as _config
from conveyor.job import Job
from conveyor.testing.sync import run_jobs, run_synchronously


@pytest.fixture
def conveyor_tmp_backend(tmp_path: Path) -> Iterator[_config.Config]:
    """The configuration in force, with a fresh SQLite job store in ``tmp_path``."""
    url = f"sqlite:///{tmp_path / 'conveyor-jobs.sqlite3'}"
    with _config.override({"conveyor.backend": url}) as config:
        yield config
    backends.close_shared()


@pytest.fixture
def conveyor_sync() -> Iterator[list[Job]]:
    """Run every job the test enqueues at once, in process; the jobs that ran, in order.

    A job's exception propagates out of the ``enqueue()`` call that ran it.
    """
    with run_synchronously() as ran:
        yield ran


@pytest.fixture
def conveyor_run_jobs() -> Callable[..., list[Job]]:
    """``run_jobs(queues=None, *, raise_errors=True)``: run the queued jobs now, in process."""
    return run_jobs
