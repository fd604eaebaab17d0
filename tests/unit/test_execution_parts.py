"""The parts of a job's run, in this process: the timeout alarm, the child's requests."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from multiprocessing import Pipe
from pathlib import Path
from typing import Any

import pytest

import conveyor
import conveyor_test_jobs
import execution_jobs as jobs
from conveyor import JobStateError, JobTimeoutException
from conveyor.backends import shared_backend
from conveyor.execution import Alarm, run_job
from conveyor.job import Job
from conveyor.worker.child import Channel, Fence, Request, Watchdog, receive_outcome
from conveyor.worker.pool import Child, HandedJob
from conveyor.worker.requests import answer
from support import lines, wait_until


@pytest.fixture
def alarm() -> Iterator[Alarm]:
    """An Alarm in this (main) thread; the timer and the previous handler restored after."""
    previous = signal.getsignal(signal.SIGALRM)
    made = Alarm()
    yield made
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


class _Host:
    def __init__(self, record: Any, config: conveyor.Config) -> None:
        self._job = Job(record, config)

    def job(self) -> Job:
        return self._job


def test_the_alarm_raises_in_the_job_and_the_run_counts_as_timed_out(
    alarm: Alarm, tmp_path: Path, conveyor_env: conveyor.Config
) -> None:
    path = tmp_path / "notes.txt"
    job = conveyor.enqueue(jobs.sleeps_until_timeout, [str(path)])
    ran = run_job(
        job.func_name,
        job.record.payload,
        1,
        _Host(job.record, conveyor_env),
        serializer_name="json",
        alarm=alarm,
        timeout=1,
    )
    assert lines(path) == ["Job exceeded maximum timeout value (1 seconds)"]
    assert (ran.ok, ran.timed_out) == (False, True)
    assert ran.error is not None
    assert (ran.error.type, ran.error.message) == (
        "JobTimeoutError",
        "Job exceeded maximum timeout value (1 seconds)",
    )
    assert ran.result is None  # what it returned after its timeout is not a result


def test_a_signal_after_the_job_ended_is_ignored(alarm: Alarm) -> None:
    alarm.arm(100)
    alarm.disarm()
    os.kill(os.getpid(), signal.SIGALRM)  # as a timer left from the job would ring
    time.sleep(0)  # the handler runs here, and must not raise
    assert not alarm.fired


def test_a_signal_before_the_deadline_sets_the_timer_again(alarm: Alarm) -> None:
    alarm.arm(100)
    os.kill(os.getpid(), signal.SIGALRM)
    time.sleep(0)
    assert not alarm.fired
    assert alarm.armed
    remaining, _ = signal.getitimer(signal.ITIMER_REAL)
    assert 90 < remaining <= 100
    alarm.disarm()


def arm_at_once_and_wait(alarm: Alarm) -> None:
    alarm.arm(0)  # it may ring before this returns: the caller expects it either way
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_alarm_rings_once_its_deadline_has_come(alarm: Alarm) -> None:
    with pytest.raises(JobTimeoutException):
        arm_at_once_and_wait(alarm)
    assert alarm.fired
    assert not alarm.armed


def test_a_thread_that_outlived_its_job_cannot_ask_for_it() -> None:
    ours, theirs = Pipe()
    channel = Channel(ours)
    channel.running = "the-next-job"
    with pytest.raises(JobStateError, match="not running any more"):
        channel.ask(Request("meta", "an-ended-job", {"late": True}))
    assert not theirs.poll()  # nothing was sent


def test_the_supervisor_saves_meta_only_while_the_job_holds_its_lease(
    conveyor_env: conveyor.Config,
) -> None:
    job = conveyor.enqueue(conveyor_test_jobs.succeed, meta={"kept": 1})
    store = shared_backend(conveyor_env.backend, conveyor_env.base_dir)
    [claimed] = store.claim([job.origin], worker="w", lease=60, now=time.time())
    assert claimed.lease_token is not None
    supervisor_end, child_end = Pipe()
    child = Child(process=None, conn=supervisor_end, gate=None, fence=None, exit_fd=-1)  # type: ignore[arg-type]
    child.running = HandedJob(claimed, claimed.lease_token)
    channel = Channel(child_end)
    channel.running = job.id

    def ask(request: Request) -> object:
        """The child asks, and the supervisor (a thread here) answers."""
        supervisor = threading.Thread(target=lambda: answer_when_asked(request))
        supervisor.start()
        try:
            return channel.ask(request)
        finally:
            supervisor.join(10)

    def answer_when_asked(request: Request) -> None:
        wait_until(supervisor_end.poll, "the request")
        received = receive_outcome(child.frames)
        assert received == request
        answer(child, request, store)

    record = ask(Request("record", job.id))
    assert dataclasses.replace(record, started_at=claimed.started_at) == claimed  # type: ignore[arg-type]
    assert ask(Request("meta", job.id, {"step": 1})) is True
    assert dict(store.get(job.id).meta) == {"step": 1}  # type: ignore[union-attr]

    store.cancel(job.id, now=time.time())  # the lease is lost
    assert ask(Request("meta", job.id, {"step": 2})) is False
    assert dict(store.get(job.id).meta) == {"step": 1}  # type: ignore[union-attr]


def test_a_handler_an_earlier_job_installed_is_replaced_at_the_next_arm(alarm: Alarm) -> None:
    signal.signal(signal.SIGALRM, signal.SIG_IGN)  # as a job using SIGALRM itself might leave it
    with pytest.raises(JobTimeoutException):
        arm_at_once_and_wait(alarm)


def test_an_alarm_its_watchdog_rings_costs_no_timer(alarm: Alarm) -> None:
    signal.setitimer(signal.ITIMER_REAL, 0)  # none left from an earlier test
    rung = Alarm(timer=False)
    rung.arm(100)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    now = time.monotonic()
    assert not rung.due(now)
    assert rung.due(now + 100)
    rung.disarm()
    assert not rung.due(now + 100)


def test_the_watchdog_rings_the_alarm_in_the_main_thread_at_the_deadline(alarm: Alarm) -> None:
    rung = Alarm(timer=False)
    watchdog = Watchdog(Fence(multiprocessing.get_context("fork")), 5.0, rung)
    watchdog.running = True  # no lease fence and no hard deadline: it only rings
    watchdog.start()
    try:
        with pytest.raises(JobTimeoutException):
            arm_at_once_and_wait(rung)
    finally:
        watchdog.running = False
    assert rung.fired
    assert not rung.armed
