"""A busy worker on PostgreSQL claims on a helper thread (conveyor.worker.inflight).

Each test drives a real loop, with a real child process, against a real
PostgreSQL schema of its own; the store call in flight is the one under test.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

import conveyor
import conveyor_test_jobs
from conveyor import config
from conveyor.api import backend
from conveyor.backends import Backend
from conveyor.exceptions import BackendUnavailable
from conveyor.worker.child import ChildSettings
from conveyor.worker.loop import Loop
from conveyor.worker.pool import Pool
from support import is_gone, state_of, wait_until


class Gated:
    """The test's PostgreSQL backend, with its ``complete_and_claim`` made to wait or fail.

    A stand-in only for how that one call is timed (the store it calls is
    real): the tests need a call that is still in flight, or one that fails
    on the helper thread, at a moment they choose.
    """

    def __init__(self, real: Backend) -> None:
        self.real = real
        self.gate = threading.Event()
        self.gate.set()
        self.fail_in_background = False  # fail the next helper-thread call with outcomes
        self.failed: list[str] = []  # the ids of the outcomes a failed call carried
        self.break_in_background = False  # fail helper-thread calls with a non-store error
        self.threads: list[str] = []  # the thread of each complete_and_claim

    def complete_and_claim(self, *args: Any, **kwargs: Any) -> Any:
        thread = threading.current_thread().name
        self.threads.append(thread)
        self.gate.wait(30)
        batch = args[0]
        if self.fail_in_background and thread.startswith("conveyor-store") and batch:
            self.fail_in_background = False
            self.failed = [done.job_id for done in batch]
            raise BackendUnavailable("the test's store went away for one call")
        if self.break_in_background and thread.startswith("conveyor-store"):
            raise RuntimeError("not a store error: a fault of the test's own")
        return self.real.complete_and_claim(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def gated(postgresql_url: str) -> Iterator[tuple[Loop, Gated]]:
    """A worker's loop (one child) on this test's PostgreSQL schema, its store gated."""
    conveyor.configure(settings={"conveyor.backend": postgresql_url})
    worker = conveyor.Worker(concurrency=1, periodic=False)
    worker.stop_flag.open()
    settings = ChildSettings(serializer="json", max_jobs=0, supervisor_pid=os.getpid())
    store = Gated(backend(config.current()))
    assert store.claims_in_background
    pool = Pool(1, settings, None, [])
    loop = Loop(worker.loop_settings(), worker.stop_flag, cast(Backend, store), pool)
    yield loop, store
    store.gate.set()
    loop.shutdown()
    worker.stop_flag.close()


def _runs(directory: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    for path in directory.iterdir():
        number = int(path.name.split("-")[0])
        counts[number] = counts.get(number, 0) + 1
    return counts


def _claim_ahead_now(loop: Loop) -> None:
    """Make the loop claim ahead of its busy child at its next claim (policy.claim_limit):
    as if jobs here were quick, and the running one had only just started."""
    loop.target = 8
    running = loop.pool.children[0].running
    assert running is not None
    running.began = time.monotonic()


def _drive(loop: Loop, deadline: float = 60.0) -> bool:
    """Step the loop in burst mode until it stops; whether a call was ever seen in flight."""
    give_up = time.monotonic() + deadline
    seen = False
    while not loop._step(burst=True, max_idle_time=None):
        seen = seen or loop.inflight is not None
        assert time.monotonic() < give_up, "the loop did not finish its jobs in time"
    return seen


def _recording_jobs(tmp_path: Path, count: int) -> tuple[Path, list[conveyor.Job]]:
    """``count`` jobs that each note their run in a file of the returned directory."""
    runs = tmp_path / "runs"
    runs.mkdir()
    jobs = conveyor.enqueue_many(
        {"fn": conveyor_test_jobs.record_run, "args": [str(runs), n]} for n in range(count)
    )
    return runs, jobs


def _long_job_running(tmp_path: Path, loop: Loop) -> tuple[conveyor.Job, Path]:
    """A job that runs in the loop's child until the returned path exists, started."""
    marker, release = tmp_path / "long.txt", tmp_path / "release"
    job = conveyor.enqueue(conveyor_test_jobs.touch_then_wait, args=[str(marker), str(release)])
    loop._step(burst=True, max_idle_time=None)  # claims it and starts it
    wait_until(marker.exists)
    return job, release


def test_a_busy_loop_claims_on_the_helper_thread_and_runs_every_job_once(
    tmp_path: Path, gated: tuple[Loop, Gated]
) -> None:
    loop, store = gated
    runs, jobs = _recording_jobs(tmp_path, 300)
    assert _drive(loop), "no store call was ever in flight while the child was busy"
    assert any(name.startswith("conveyor-store") for name in store.threads)
    assert _runs(runs) == {n: 1 for n in range(300)}
    assert {state_of(job) for job in jobs} == {"finished"}


def test_outcomes_of_a_call_that_failed_on_the_helper_thread_are_recorded_by_the_next(
    tmp_path: Path, gated: tuple[Loop, Gated]
) -> None:
    loop, store = gated
    runs, jobs = _recording_jobs(tmp_path, 60)
    store.fail_in_background = True
    loop.run(burst=True, max_idle_time=None)  # takes the error as any store error, goes on
    assert store.failed, "no call carrying outcomes went to the helper thread"
    assert {state_of(job) for job in jobs} == {"finished"}  # the failed call's outcomes too
    assert _runs(runs) == {n: 1 for n in range(60)}


def test_a_call_in_flight_at_shutdown_has_its_jobs_put_back(
    tmp_path: Path, gated: tuple[Loop, Gated]
) -> None:
    loop, store = gated
    long_job, release = _long_job_running(tmp_path, loop)
    quick = conveyor.enqueue_many({"fn": conveyor_test_jobs.succeed} for _ in range(5))
    _claim_ahead_now(loop)
    store.gate.clear()
    loop._refill(burst=True)
    assert loop.inflight is not None  # the child is busy: the claim went to the helper
    threading.Timer(0.2, store.gate.set).start()
    release.touch()
    loop.shutdown()
    assert loop.inflight is None
    assert {state_of(job) for job in quick} == {"queued"}  # claimed in flight, then put back
    assert state_of(long_job) in {"queued", "finished"}  # interrupted, or it had just ended


def test_no_child_is_forked_while_a_call_is_in_flight(
    tmp_path: Path, gated: tuple[Loop, Gated]
) -> None:
    loop, store = gated
    _, release = _long_job_running(tmp_path, loop)
    conveyor.enqueue(conveyor_test_jobs.succeed)
    _claim_ahead_now(loop)
    store.gate.clear()
    loop._refill(burst=True)
    call = loop.inflight
    assert call is not None
    opened_at = time.monotonic() + 0.3
    threading.Timer(0.3, store.gate.set).start()
    assert loop.pool.before_fork is not None
    loop.pool.before_fork()  # as Pool._spawn calls it, just before fork()
    assert call.future.done()
    assert time.monotonic() >= opened_at - 0.05
    # Nor is the helper thread there at the fork: the child copies a one-thread process.
    assert not [t for t in threading.enumerate() if t.name.startswith("conveyor-store")]
    release.touch()
    _drive(loop)


def test_a_call_failing_with_any_error_at_shutdown_still_leaves_no_child_running(
    tmp_path: Path, gated: tuple[Loop, Gated]
) -> None:
    loop, store = gated
    long_job, _ = _long_job_running(tmp_path, loop)
    pid = loop.pool.children[0].process.pid
    assert pid is not None
    conveyor.enqueue(conveyor_test_jobs.succeed)
    _claim_ahead_now(loop)
    store.break_in_background = True
    loop._refill(burst=True)
    assert loop.inflight is not None
    wait_until(loop.inflight.future.done)
    loop.shutdown()  # logs the error and goes on
    wait_until(lambda: is_gone(pid))
    assert state_of(long_job) == "queued"  # interrupted, back on its queue
