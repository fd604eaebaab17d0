"""A busy child may be sent its next jobs; one taken back never runs there, none is lost."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import conveyor
import conveyor_test_jobs as test_jobs
from conveyor import config
from conveyor.api import backend
from conveyor.backends import JobRecord, JobState
from conveyor.worker import policy
from conveyor.worker.child import Channel, ChildSettings, Gate, JobMessage, send
from conveyor.worker.loop import Loop
from conveyor.worker.pool import Child, Pool
from support import state_of, wait_until


def message(seq: int) -> JobMessage:
    return JobMessage(seq, f"job-{seq}", "conveyor_test_jobs:succeed", b"[[], {}]", 1)


def test_a_task_taken_back_in_time_is_dropped_by_the_child() -> None:
    supervisor_end, child_end = multiprocessing.Pipe()
    gate = Gate(multiprocessing.get_context("fork"))
    for seq in (1, 2, 3):
        send(supervisor_end, message(seq))
    channel = Channel(child_end)
    first = channel.next_job(gate)
    assert first is not None
    assert first.seq == 1
    assert gate.take_back(2) == 1  # the child is still on task 1
    after = channel.next_job(gate)
    assert after is not None
    assert after.seq == 3
    send(supervisor_end, None)
    assert channel.next_job(gate) is None


def test_a_task_the_child_started_cannot_be_taken_back() -> None:
    gate = Gate(multiprocessing.get_context("fork"))
    assert gate.start(1)
    assert gate.start(2)
    assert gate.take_back(2) == 2  # started: nothing is taken back
    assert gate.take_back(3) == 2
    assert not gate.start(3)
    assert gate.start(4)


def test_every_task_not_started_is_taken_back_at_once() -> None:
    supervisor_end, child_end = multiprocessing.Pipe()
    gate = Gate(multiprocessing.get_context("fork"))
    for seq in (1, 2, 3, 4, 5):
        send(supervisor_end, message(seq))
    channel = Channel(child_end)
    first = channel.next_job(gate)
    assert first is not None
    assert first.seq == 1
    assert gate.take_back(4) == 1  # 2, 3 and 4 will never start
    after = channel.next_job(gate)
    assert after is not None
    assert after.seq == 5


def test_a_busy_child_is_sent_as_many_jobs_as_cover_the_pipe_ahead(loop: Loop) -> None:
    conveyor.enqueue_many({"fn": test_jobs.succeed} for _ in range(12))
    worker = loop.settings
    first, *rest = loop.backend.claim(
        worker.queues, worker=worker.key, lease=30.0, now=time.time(), limit=12
    )
    loop._start(first, time.monotonic())
    child = loop.pool.children[0]
    child.running.began = time.monotonic() + 60  # "just started", for as long as the test runs
    loop.buffer.extend((record, time.monotonic()) for record in rest)
    loop.avg_duration, loop.target = 0.001, 32  # quick jobs: 2 may wait in the pipe
    loop.depth = policy.pipe_depth(loop.avg_duration)
    assert loop.depth == 2
    loop._dispatch()
    assert len(child.queued) == 2
    assert len(loop.buffer) == 9
    loop.avg_duration = 1e-5  # very quick: up to _PIPE_DEPTH
    loop.depth = policy.pipe_depth(loop.avg_duration)
    loop._dispatch()
    assert len(child.queued) == loop.depth == 8
    assert len(loop.buffer) == 3
    loop.avg_duration = 1.0  # slow: still one
    assert policy.pipe_depth(loop.avg_duration) == 1


@pytest.fixture
def loop() -> Iterator[Loop]:
    """A worker's loop with one child, driven step by step by the test."""
    worker = conveyor.Worker(concurrency=1)
    worker.stop_flag.open()
    settings = ChildSettings(serializer="json", max_jobs=0, supervisor_pid=os.getpid())
    pool = Pool(1, settings, None, [])
    the_loop = Loop(worker.loop_settings(), worker.stop_flag, backend(config.current()), pool)
    yield the_loop
    the_loop.shutdown()
    worker.stop_flag.close()


def _handed_to_the_child(loop: Loop, count: int) -> tuple[list[JobRecord], Child]:
    """Claim ``count`` of the enqueued jobs: the first starts in the loop's child, the
    others wait in its pipe behind it, in order."""
    worker = loop.settings
    records = loop.backend.claim(
        worker.queues, worker=worker.key, lease=30.0, now=time.time(), limit=count
    )
    assert len(records) == count
    loop._start(records[0], time.monotonic())
    child = loop.pool.children[0]
    for record in records[1:]:
        loop._queue(child, record)
    return records, child


def test_a_job_the_child_started_before_the_take_back_runs_once_and_is_recorded(
    tmp_path: Path, loop: Loop
) -> None:
    marker = tmp_path / "b.txt"
    job_a = conveyor.enqueue(test_jobs.succeed)
    job_b = conveyor.enqueue(test_jobs.touch, args=[str(marker)])
    _, child = _handed_to_the_child(loop, 2)
    wait_until(marker.exists)  # the child ran A, then went straight on to B

    # The supervisor now decides, too late, that A ran long: B is not taken back.
    assert child.running is not None
    child.running.began -= 1.0
    loop._release_held()
    assert [queued.record.id for queued in child.queued] == [job_b.id]
    assert state_of(job_b) == "started"

    wait_until(lambda: loop._collect() or (child.running is None and child.jobs_done == 2))
    loop.recorder.flush(loop.backend)
    assert state_of(job_a) == "finished"
    assert state_of(job_b) == "finished"
    assert marker.read_text().count("\n") == 1  # once: it was never handed to anyone else
    assert child.process.is_alive()


def one_running_two_waiting(
    tmp_path: Path, loop: Loop
) -> tuple[conveyor.Job, conveyor.Job, conveyor.Job, Child, Path]:
    """Job A running in the loop's child until ``release`` exists, B and C waiting behind it.

    A touches ``a.txt``, B and C touch ``b.txt`` and ``c.txt`` if they run.
    """
    marker, release = tmp_path / "a.txt", tmp_path / "release"
    job_a = conveyor.enqueue(test_jobs.touch_then_wait, args=[str(marker), str(release)])
    job_b = conveyor.enqueue(test_jobs.touch, args=[str(tmp_path / "b.txt")])
    job_c = conveyor.enqueue(test_jobs.touch, args=[str(tmp_path / "c.txt")])
    _, child = _handed_to_the_child(loop, 3)
    wait_until(marker.exists)  # A runs, and waits for the test
    return job_a, job_b, job_c, child, release


def test_jobs_taken_back_in_time_go_back_to_their_queue_and_run_once(
    tmp_path: Path, loop: Loop
) -> None:
    job_a, job_b, job_c, child, release = one_running_two_waiting(tmp_path, loop)

    assert child.running is not None
    child.running.began -= 1.0  # A has outlasted the hold
    loop._release_held()
    assert not child.queued
    assert state_of(job_b) == state_of(job_c) == "queued"

    release.touch()
    wait_until(lambda: loop._collect() or child.running is None)
    loop.recorder.flush(loop.backend)
    assert state_of(job_a) == "finished"
    assert state_of(job_b) == state_of(job_c) == "queued"  # the child dropped both
    assert not (tmp_path / "b.txt").exists()
    assert not (tmp_path / "c.txt").exists()
    assert conveyor.Worker().work(burst=True)
    assert (tmp_path / "b.txt").read_text().count("\n") == 1
    assert (tmp_path / "c.txt").read_text().count("\n") == 1


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


def test_a_waiting_job_canceled_is_taken_back_with_the_others_behind_it(
    tmp_path: Path, loop: Loop
) -> None:
    job_a, job_b, job_c, child, release = one_running_two_waiting(tmp_path, loop)

    assert loop.backend.cancel(job_b.id, now=time.time()) is not None
    loop.next_heartbeat = 0.0  # the heartbeat finds B's lease gone
    loop._heartbeat_if_due()
    assert not child.queued
    loop.recorder.flush(loop.backend)
    assert state_of(job_b) == "canceled"
    assert state_of(job_c) == "queued"  # back on its queue, not started

    release.touch()
    wait_until(lambda: loop._collect() or child.running is None)
    loop.recorder.flush(loop.backend)
    assert state_of(job_a) == "finished"
    assert not (tmp_path / "b.txt").exists()
    assert not (tmp_path / "c.txt").exists()
    assert child.process.is_alive()


def test_a_lost_job_that_already_ended_has_its_outcome_taken_not_its_child_killed(
    tmp_path: Path, loop: Loop, caplog: pytest.LogCaptureFixture
) -> None:
    """The heartbeat learns that a job's lease is lost (here: the job was canceled) after the
    job ended but before the loop read its report: the report is read, and its outcome offered
    to the store, which refuses it; the child, which runs nothing, is left alive."""
    caplog.set_level(logging.INFO, logger="conveyor")
    marker = tmp_path / "ran.txt"
    job = conveyor.enqueue(test_jobs.touch, args=[str(marker)])
    _, child = _handed_to_the_child(loop, 1)
    wait_until(lambda: marker.exists() and child.conn.poll())  # ended, its report unread
    job.cancel()
    lost = loop._extend_leases()
    assert lost == {job.id}

    loop._drop_lost_jobs(lost)
    assert child.running is None
    assert child in loop.pool.children
    assert child.process.is_alive()
    loop.recorder.flush(loop.backend)
    assert f"Outcome of job {job.id} was not recorded: its lease was lost" in caplog.text
    assert "stopping its process" not in caplog.text
    assert state_of(job) == "canceled"


def _pipes_held(pid: int) -> set[str]:
    """The pipes (``pipe:[inode]``) process ``pid`` holds open."""
    held = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("pipe:"):
                held.add(target)
    return held


def test_a_child_keeps_none_of_the_supervisors_store_call_pipe(loop: Loop) -> None:
    """The helper thread's wake-up pipe is the supervisor's alone (Linux: read from /proc)."""
    helper_pipe = {f"pipe:[{os.fstat(fd).st_ino}]" for fd in loop.helper.fds()}
    assert helper_pipe <= _pipes_held(os.getpid())
    conveyor.enqueue(test_jobs.succeed)
    _, child = _handed_to_the_child(loop, 1)
    wait_until(child.conn.poll, "the job's outcome")  # the child closed what it inherited
    assert child.pid is not None
    assert not helper_pipe & _pipes_held(child.pid)


def test_every_report_a_child_sent_before_it_died_is_taken(loop: Loop) -> None:
    """Two jobs ended and reported, then the child was killed: both finished, neither retried."""
    conveyor.enqueue_many({"fn": test_jobs.succeed} for _ in range(2))
    (first, second), child = _handed_to_the_child(loop, 2)
    assert child.pid is not None
    wait_until(lambda: child.gate.take_back(0) == 2, "the child to start both jobs")
    wait_until(lambda: _reports_waiting(child) == 2, "both reports")
    os.kill(child.pid, 9)
    child.process.join(10)

    loop._child_died(child)

    done = {c.job_id: c.state for c in loop.recorder.pending}
    assert done == {first.id: JobState.FINISHED, second.id: JobState.FINISHED}
    assert child not in loop.pool.children


def _reports_waiting(child: Child) -> int:
    """How many whole messages wait unread in ``child``'s pipe (peeked, not taken)."""
    with socket.socket(fileno=os.dup(child.conn.fileno())) as peer:
        peer.setblocking(False)
        try:
            data = peer.recv(65536, socket.MSG_PEEK)
        except BlockingIOError:
            return 0
    count, at = 0, 0
    while at + 4 <= len(data):
        (size,) = struct.unpack_from("!i", data, at)
        if at + 4 + size > len(data):
            break
        count, at = count + 1, at + 4 + size
    return count


def test_a_child_that_died_after_asking_is_a_death_not_a_crash(loop: Loop) -> None:
    """Its request is read after it died: the answer cannot be sent, and the job is retried."""
    conveyor.enqueue(test_jobs.ask_then_die)
    [record], child = _handed_to_the_child(loop, 1)
    child.process.join(10)  # the loop was not driven meanwhile: the request is unread
    assert child.process.exitcode == -9
    assert _reports_waiting(child) == 1

    loop._collect()

    assert child not in loop.pool.children
    [completion] = loop.recorder.pending
    assert (completion.job_id, completion.state) == (record.id, JobState.SCHEDULED)
