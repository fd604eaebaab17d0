"""A busy child may be sent its next job; a job taken back from it is skipped, never lost."""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import conveyor
import conveyor_test_jobs as test_jobs
from conveyor import config
from conveyor.api import backend
from conveyor.worker.child import ChildSettings, Inbox, Task, send
from conveyor.worker.loop import Loop
from conveyor.worker.pool import Pool
from support import state_of, wait_until


def task(seq: int) -> Task:
    return Task(seq, f"job-{seq}", "conveyor_test_jobs:succeed", b"[[], {}]", 1)


def test_the_inbox_hands_out_tasks_in_order_and_drops_the_skipped_ones() -> None:
    supervisor_end, child_end = multiprocessing.Pipe()
    inbox = Inbox(child_end)
    send(supervisor_end, task(1))
    send(supervisor_end, task(2))
    send(supervisor_end, 2)  # skip task 2
    send(supervisor_end, task(3))
    first, second = inbox.next_task(), inbox.next_task()
    assert first is not None
    assert second is not None
    assert (first.seq, second.seq) == (1, 3)

    # A skip that comes after its task was taken is forgotten once a later one is.
    send(supervisor_end, 3)
    send(supervisor_end, task(4))
    fourth = inbox.next_task()
    assert fourth is not None
    assert fourth.seq == 4
    assert inbox.skipped == set()

    send(supervisor_end, None)
    assert inbox.next_task() is None


@pytest.fixture
def loop() -> Iterator[Loop]:
    """A worker's loop with one child, driven step by step by the test."""
    worker = conveyor.Worker(concurrency=1)
    worker._wake_r, worker._wake_w = os.pipe()
    settings = ChildSettings(serializer="json", max_jobs=0, supervisor_pid=os.getpid())
    the_loop = Loop(worker, backend(config.current()), Pool(1, settings, None, []))
    yield the_loop
    the_loop.shutdown()
    os.close(worker._wake_r)
    os.close(worker._wake_w)


def test_a_job_the_child_started_before_its_skip_came_is_not_recorded_and_runs_again(
    tmp_path: Path, loop: Loop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="conveyor")
    marker = tmp_path / "b.txt"
    job_a = conveyor.enqueue(test_jobs.succeed)
    job_b = conveyor.enqueue(test_jobs.touch, args=[str(marker)])
    worker = loop.worker
    first, second = loop.store.claim(
        worker.queues, worker=worker.key, lease=30.0, now=time.time(), limit=2
    )
    loop._start(first)
    child = loop.pool.children[0]
    loop._queue(child, second)
    wait_until(marker.exists)  # the child ran A, then went straight on to B

    # The supervisor now decides, too late, that A ran long: B goes back to its queue.
    assert child.running is not None
    child.running.began -= 1.0
    loop._release_held()
    assert state_of(job_b) == "queued"

    wait_until(lambda: loop._collect() or (child.running is None and not child.skipped))
    loop.recorder.flush(loop.store)
    assert state_of(job_a) == "finished"
    assert state_of(job_b) == "queued"  # B's outcome was not recorded: its lease was gone
    assert any("ran although it had been handed back" in r.getMessage() for r in caplog.records)
    assert child.process.is_alive()  # the child is fine, and gets the next job
    assert conveyor.Worker().work(burst=True)
    assert state_of(job_b) == "finished"
    assert marker.read_text().count("\n") == 2  # at least once: B ran twice


def test_the_job_waiting_behind_one_that_kills_its_child_goes_back_and_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="conveyor")
    marker = tmp_path / "touched.txt"
    # Quick jobs first, so the worker starts sending a busy child its next job.
    warm = conveyor.enqueue_many({"fn": test_jobs.succeed} for _ in range(20))
    crash, *after = conveyor.enqueue_many(
        [
            {"fn": test_jobs.kill_self, "max_attempts": 1},
            *({"fn": test_jobs.touch, "args": [str(marker)]} for _ in range(5)),
        ]
    )
    assert conveyor.Worker(concurrency=1).work(burst=True)
    assert all(state_of(job) == "finished" for job in [*warm, *after])
    assert state_of(crash) == "failed"
    assert marker.read_text().count("\n") == 5  # each ran once
    assert any(
        "was not started and put back on its queue" in r.getMessage() for r in caplog.records
    )
