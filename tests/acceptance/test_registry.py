"""Workers are visible (`jobs workers`), queues counted (`jobs queues`), failed jobs requeued."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import conveyor
import conveyor_test_jobs as test_jobs
from conveyor import JobState, JobStateError, NoSuchJobError
from conveyor.api import backend
from conveyor.cli import main
from support import SHORT_LEASE as LEASE
from support import WorkerProcess, wait_until

Invoke = Callable[..., Result]
OTHER_SITE = "other.site"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")


@pytest.fixture
def worker_env(subprocess_env: dict[str, str]) -> dict[str, str]:
    """The workers ``start_worker`` starts here have a short lease."""
    return {**subprocess_env, "CONVEYOR_WORKER_LEASE": str(LEASE)}


@pytest.fixture
def cli(conveyor_env: conveyor.Config) -> Invoke:
    """Run ``conveyor ...`` in process against the test's database (created, empty)."""
    conveyor.api.backend()  # read-only commands refuse a store that does not exist
    runner = CliRunner()
    env = {"CONVEYOR_BACKEND": conveyor_env.backend, "CONVEYOR_SITE_ID": conveyor_env.site_id}

    def invoke(*args: str) -> Result:
        return runner.invoke(main, list(args), env=env)

    return invoke


def listed(key: str) -> dict[str, Any] | None:
    return next((info for info in conveyor.worker_list() if info["key"] == key), None)


def wait_listed(worker: WorkerProcess, **expected: Any) -> dict[str, Any]:
    """The worker's registry entry, once it shows ``expected``."""
    key = worker.key

    def shows() -> bool:
        info = listed(key)
        return info is not None and all(info[name] == value for name, value in expected.items())

    wait_until(shows, f"worker {key} to be listed with {expected}")
    info = listed(key)
    assert info is not None
    return info


def fail_jobs(*queues: str) -> list[conveyor.Job]:
    """One failed job on each queue."""
    jobs = [conveyor.enqueue(test_jobs.failing_job, queue=queue) for queue in queues]
    conveyor.Worker(sorted(set(queues))).work(burst=True)
    for job in jobs:
        job.refresh()
        assert job.state is JobState.FAILED
    return jobs


def assert_user_error(result: Result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr == f"{message}\nAborted!\n"
    assert "Traceback" not in result.output


# -- the worker registry ------------------------------------------------------------------
def test_a_running_worker_is_listed_with_its_queues_pid_host_and_current_job(
    start_worker: Callable[..., WorkerProcess], cli: Invoke, tmp_path: Path
) -> None:
    path, release = tmp_path / "job.txt", tmp_path / "release"
    job = conveyor.enqueue(test_jobs.touch_then_wait, [str(path), str(release)], queue="second")
    worker = start_worker("first", "second")

    info = wait_listed(worker, state="busy", jobs=[job.id])

    assert info["pid"] == worker.pid
    assert info["host"] == socket.gethostname()
    assert info["queues"] == ["first", "second"]
    assert info["concurrency"] == 1
    assert (info["finished"], info["failed"]) == (0, 0)
    assert TIME.match(info["started"])
    assert TIME.match(info["heartbeat"])
    shown = cli("jobs", "workers")
    assert shown.exit_code == 0, shown.output
    assert info["name"] == worker.name == f"{socket.gethostname().split('.')[0]}.{worker.pid}"
    assert shown.stdout.splitlines() == [
        f'{worker.name} busy queues "first", "second" started {info["started"]};'
        " jobs finished 0, jobs failed 0, attempts retried 0;"
        f" {info['host']}:{worker.pid} {worker.key}",
        f"    running {job.id}",
    ]
    as_json = cli("jobs", "workers", "--json")
    assert as_json.exit_code == 0, as_json.output
    [entry] = json.loads(as_json.stdout)
    assert {k: v for k, v in entry.items() if k != "heartbeat"} == {
        k: v for k, v in info.items() if k != "heartbeat"
    }

    release.touch()
    conveyor.enqueue(test_jobs.failing_job, queue="first")

    info = wait_listed(worker, state="idle", finished=1, failed=1)
    assert info["jobs"] == []


def test_a_worker_that_stops_unregisters_at_once(
    start_worker: Callable[..., WorkerProcess], cli: Invoke
) -> None:
    worker = start_worker()
    wait_listed(worker, state="idle")

    worker.signal(signal.SIGTERM)

    assert worker.process.wait(30) == 0, worker.stderr
    assert conveyor.worker_list() == []
    shown = cli("jobs", "workers")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == "There are no live workers.\n"


@pytest.mark.slow
def test_a_killed_worker_disappears_once_its_heartbeat_expires(
    start_worker: Callable[..., WorkerProcess],
) -> None:
    worker = start_worker()
    key = worker.key
    wait_listed(worker, state="idle")
    prefix = conveyor.config.current().queue_prefix

    [last] = [info for info in backend().workers(prefix, now=time.time()) if info.key == key]

    worker.signal(signal.SIGKILL)
    worker.process.wait(30)

    wait_until(lambda: listed(key) is None, "the dead worker's entry to expire")
    # It expired rather than being removed: as of its last heartbeat it is still there.
    assert [info.key for info in backend().workers(prefix, now=last.heartbeat_at)] == [key]


def test_workers_of_another_site_are_not_listed(
    start_worker: Callable[..., WorkerProcess], cli: Invoke
) -> None:
    ours = start_worker()
    theirs = start_worker(CONVEYOR_SITE_ID=OTHER_SITE)
    wait_listed(ours, state="idle")
    with conveyor.config.override({"conveyor.site_id": OTHER_SITE}):
        wait_listed(theirs, state="idle")
        assert [info["key"] for info in conveyor.worker_list()] == [theirs.key]

    assert [info["key"] for info in conveyor.worker_list()] == [ours.key]
    shown = cli("jobs", "workers")
    assert shown.exit_code == 0, shown.output
    assert theirs.key not in shown.stdout
    assert ours.key in shown.stdout


# -- requeue --------------------------------------------------------------------------------
def test_job_requeue_puts_a_failed_job_back_and_keeps_its_errors() -> None:
    [job] = fail_jobs("default")

    requeued = conveyor.job_requeue(job.id)

    assert requeued["id"] == job.id
    assert requeued["state"] == "queued"
    assert requeued["attempts"] == 0
    assert requeued["ended"] is None
    assert [e["message"] for e in requeued["errors"]] == ["JOB FAILURE"]
    assert conveyor.job_list(ids_only=True) == [job.id]

    conveyor.Worker().work(burst=True)

    job.refresh()
    assert job.state is JobState.FAILED
    assert job.attempts == 1
    assert [e.message for e in job.errors] == ["JOB FAILURE", "JOB FAILURE"]


def test_job_requeue_puts_a_canceled_job_back() -> None:
    job = conveyor.enqueue(test_jobs.succeed)
    store = backend()
    prefix = conveyor.config.current().queue_prefix
    [claimed] = store.claim([prefix + "default"], worker="test", lease=30, now=time.time())
    conveyor.job_cancel(claimed.id)

    assert conveyor.job_requeue(job.id)["state"] == "queued"

    conveyor.Worker().work(burst=True)
    job.refresh()
    assert job.state is JobState.FINISHED


@pytest.mark.parametrize("state", ["queued", "finished"])
def test_job_requeue_refuses_a_job_that_did_not_fail(state: str, cli: Invoke) -> None:
    job = conveyor.enqueue(test_jobs.succeed)
    if state == "finished":
        conveyor.Worker().work(burst=True)
    message = f"Job {job.id} is {state}; only failed or canceled jobs can be requeued"

    with pytest.raises(JobStateError) as raised:
        conveyor.job_requeue(job.id)

    assert str(raised.value) == message
    assert_user_error(cli("jobs", "requeue", job.id), message)
    job.refresh()
    assert job.state.value == state


def test_requeue_of_an_unknown_job_says_there_is_none(cli: Invoke) -> None:
    with pytest.raises(NoSuchJobError):
        conveyor.job_requeue("no-such-job")

    assert_user_error(
        cli("jobs", "requeue", "no-such-job"), 'There is no job with ID "no-such-job"'
    )


def test_the_requeue_command_puts_one_failed_job_back(cli: Invoke) -> None:
    [job] = fail_jobs("emails")

    result = cli("jobs", "requeue", job.id)

    assert result.exit_code == 0, result.output
    assert result.stdout == f'Requeued job {job.id} to queue "emails"\n'
    assert conveyor.job_list(["emails"], ids_only=True) == [job.id]


def test_requeue_needs_an_id_or_all_failed(cli: Invoke) -> None:
    for args in ([], ["one", "two"]):
        result = cli("jobs", "requeue", *args)
        assert result.exit_code == 2, result.output
        assert "Give one job ID, or --all-failed [QUEUES...]" in result.stderr


def test_requeue_all_failed_takes_only_the_given_queues(cli: Invoke) -> None:
    first, second, third = fail_jobs("a", "b", "c")
    untouched = conveyor.enqueue(test_jobs.succeed, queue="a")

    some = cli("jobs", "requeue", "--all-failed", "a", "b")

    assert some.exit_code == 0, some.output
    assert sorted(some.stdout.splitlines()) == sorted(
        [f"Requeued job {first.id}", f"Requeued job {second.id}"]
    )
    assert conveyor.job_list(states=["failed"], ids_only=True) == [third.id]

    rest = cli("jobs", "requeue", "--all-failed")

    assert rest.exit_code == 0, rest.output
    assert rest.stdout == f"Requeued job {third.id}\n"
    assert conveyor.job_list(states=["failed"], ids_only=True) == []
    assert sorted(conveyor.job_list(ids_only=True)) == sorted(
        [first.id, second.id, third.id, untouched.id]
    )

    none = cli("jobs", "requeue", "--all-failed")

    assert none.exit_code == 0, none.output
    assert none.stdout == "There are no failed jobs.\n"


def test_job_requeue_failed_returns_the_ids_it_moved() -> None:
    first, second = fail_jobs("a", "b")

    assert conveyor.job_requeue_failed(["b"]) == [second.id]
    assert conveyor.job_requeue_failed() == [first.id]
    assert conveyor.job_requeue_failed() == []


# -- queues -------------------------------------------------------------------------------
def test_the_queues_command_counts_each_queue_by_state(cli: Invoke) -> None:
    empty = cli("jobs", "queues")
    assert empty.exit_code == 0, empty.output
    assert empty.stdout == "There are no queues.\n"
    fail_jobs("default")
    conveyor.enqueue(test_jobs.succeed)
    conveyor.enqueue(test_jobs.succeed, queue="other")
    conveyor.enqueue(test_jobs.succeed, queue="other")

    shown = cli("jobs", "queues")

    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines() == [
        "default queued=1 scheduled=0 started=0 finished=0 failed=1 canceled=0",
        "other queued=2 scheduled=0 started=0 finished=0 failed=0 canceled=0",
    ]
    as_json = cli("jobs", "queues", "--json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == conveyor.queue_list()
    assert conveyor.queue_list()[1] == {
        "name": "other",
        "queued": 2,
        "scheduled": 0,
        "started": 0,
        "finished": 0,
        "failed": 0,
        "canceled": 0,
        "paused": False,
    }
