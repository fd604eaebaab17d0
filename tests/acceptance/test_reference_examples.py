"""Every code example of the reference documentation, as written, with ``import conveyor as jobs``.

Source: reference/ckan-background-jobs.txt. The job functions are defined here
exactly as the documentation writes them (this module is importable, so a
worker's child finds them), each example is enqueued as written, and a real
burst worker runs it; the checks read the log records and output it produced.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from unittest import mock  # the documentation's `import unittest.mock as mock`

import pytest

import conveyor as jobs

CONVEYOR = str(Path(sys.executable).parent / "conveyor")


# -- the documentation's job functions, as written ---------------------------------------
def log_job(msg, level=logging.INFO, logger="ckan"):
    """
    Background job to log a message.
    """
    logger = logging.getLogger(logger)
    logger.log(level, msg)


def echo(message):
    print(message)


def compat_enqueue(name, fn, args=None):
    """
    Enqueue a background job using Celery or RQ.
    """
    try:
        # Try to use RQ (here: conveyor)
        from conveyor import enqueue_job

        enqueue_job(fn, args=args)
    except ImportError:
        # Fallback to Celery
        import uuid

        from ckan.lib.celery_app import celery

        celery.send_task(name, args=args, task_id=str(uuid.uuid4()))


# -- a log file every process writes to -----------------------------------------------------
@pytest.fixture
def job_log(tmp_path: Path) -> Iterator[Path]:
    """Log records at INFO of this process and of the worker's children, one file.

    The children are forked from this process, so they inherit the handler.
    """
    path = tmp_path / "jobs.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(process)d %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield path
    root.removeHandler(handler)
    root.setLevel(level)
    handler.close()


def records(path: Path) -> list[tuple[int, str, str, str]]:
    """(pid, logger, level, message) of each record in the log file."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^(\d+) (\S+) ([A-Z]+) (.*)$", line)
        if match:
            found.append((int(match[1]), match[2], match[3], match[4]))
    return found


def logged_by_a_child(path: Path, logger: str, message: str) -> bool:
    """Whether ``message`` was logged on ``logger`` by a process other than this one."""
    return any(
        pid != os.getpid() and name == logger and text == message
        for pid, name, _, text in records(path)
    )


def worker_messages(path: Path) -> list[str]:
    return [text for _, name, level, text in records(path) if name == "conveyor.worker"]


# -- Writing and enqueuing background jobs --------------------------------------------------
def test_enqueue_log_job_with_a_message(job_log: Path) -> None:
    job = jobs.enqueue(log_job, ["My log message"])
    worker = jobs.Worker()
    worker.work(burst=True)
    assert logged_by_a_child(job_log, "ckan", "My log message")
    messages = worker_messages(job_log)
    # The reference's line, then conveyor's site, store and worker key.
    assert re.fullmatch(
        rf"Worker {worker.name} \(PID {os.getpid()}\) has started on queue\(s\) \"default\";"
        rf" site \"test.conveyor\", store sqlite:///\S+/jobs.sqlite3, key {worker.key}",
        messages[0],
    )
    assert messages[1] == f'Worker {worker.name} starts job {job.id} from queue "default"'
    assert re.fullmatch(
        rf'Worker {worker.name} has finished job {job.id} from queue "default" in [\d.]+s',
        messages[2],
    )
    assert messages[3] == f"Worker {worker.name} (PID {os.getpid()}) has stopped"
    job.refresh()
    assert job.state is jobs.JobState.FINISHED


def test_enqueue_log_job_with_keyword_arguments(job_log: Path) -> None:
    job = jobs.enqueue(log_job, ["My log message"], {"logger": "ckanext.foo"})
    jobs.Worker().work(burst=True)
    assert logged_by_a_child(job_log, "ckanext.foo", "My log message")
    assert not logged_by_a_child(job_log, "ckan", "My log message")
    assert jobs.job_from_id(job.id).kwargs == {"logger": "ckanext.foo"}


def test_enqueue_log_job_with_a_title(job_log: Path) -> None:
    job = jobs.enqueue(log_job, ["My log message"], title="My log job")
    worker = jobs.Worker()
    worker.work(burst=True)
    assert logged_by_a_child(job_log, "ckan", "My log message")
    assert f'Worker {worker.name} starts job {job.id} (My log job) from queue "default"' in (
        worker_messages(job_log)
    )
    assert jobs.job_show(job.id)["title"] == "My log job"


def test_enqueue_log_job_with_a_timeout(job_log: Path) -> None:
    job = jobs.enqueue(log_job, ["My log message"], rq_kwargs={"timeout": 3600})
    assert job.timeout == 3600
    jobs.Worker().work(burst=True)
    assert logged_by_a_child(job_log, "ckan", "My log message")
    job.refresh()
    assert (job.state, job.timeout) == (jobs.JobState.FINISHED, 3600)


def test_the_default_timeout_is_180_seconds() -> None:
    assert jobs.enqueue(log_job, ["My log message"]).timeout == 180


def test_a_log_job_at_another_level(job_log: Path) -> None:
    jobs.enqueue(log_job, ["Careful"], {"level": logging.WARNING})
    jobs.Worker().work(burst=True)
    assert any(
        (name, level, text) == ("ckan", "WARNING", "Careful")
        for _, name, level, text in records(job_log)
    )


# -- Background job queues ------------------------------------------------------------------
def test_a_job_on_my_own_queue_is_run_only_by_a_worker_of_that_queue(job_log: Path) -> None:
    job = jobs.enqueue(log_job, ["I'm from a different queue!"], queue="my-own-queue")
    assert job.queue == "my-own-queue"
    assert jobs.Worker().work(burst=True) is False  # the default queue only
    assert not logged_by_a_child(job_log, "ckan", "I'm from a different queue!")
    worker = jobs.Worker(["my-own-queue"])
    assert worker.work(burst=True) is True
    assert logged_by_a_child(job_log, "ckan", "I'm from a different queue!")
    assert f'Worker {worker.name} starts job {job.id} from queue "my-own-queue"' in (
        worker_messages(job_log)
    )


def test_a_worker_command_for_my_own_queue_runs_its_jobs_and_logs_them(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    other = jobs.enqueue(log_job, ["I'm on the default queue"])
    job = jobs.enqueue(log_job, ["I'm from a different queue!"], queue="my-own-queue")
    completed = subprocess.run(
        [CONVEYOR, "jobs", "worker", "--burst", "my-own-queue"],
        env=subprocess_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "[ckan] I'm from a different queue!" in completed.stderr
    assert f'starts job {job.id} from queue "my-own-queue"' in completed.stderr
    assert "I'm on the default queue" not in completed.stderr
    assert jobs.job_show(job.id)["state"] == "finished"
    assert jobs.job_show(other.id)["state"] == "queued"


# -- Using Supervisor: "jobs test" and the worker's output -----------------------------------
def test_a_test_job_shows_in_the_worker_output(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CONVEYOR, *args],
            env=subprocess_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    added = run("jobs", "test")
    assert added.returncode == 0, added.stderr
    [job_id] = jobs.job_list(ids_only=True)
    assert added.stdout == f'Added test job {job_id} to queue "default"\n'
    worked = run("jobs", "worker", "--burst")
    assert worked.returncode == 0, worked.stderr
    assert worked.stdout == "('A test job',)\n"
    assert f'starts job {job_id} (A test job) from queue "default"' in worked.stderr
    assert f"has finished job {job_id} (A test job)" in worked.stderr


# -- Testing code that uses background jobs ---------------------------------------------------
def synchronous_enqueue_job(job_func, args=None, kwargs=None, title=None):
    """
    Synchronous mock for ``conveyor.enqueue_job``.
    """
    args = args or []
    kwargs = kwargs or {}
    job_func(*args, **kwargs)


def some_function_that_enqueues_a_background_job() -> None:
    jobs.enqueue_job(log_job, ["Run at once"], {"logger": "myext"}, title="Synchronous")


class TestSomethingWithBackgroundJobs:
    @mock.patch("conveyor.enqueue_job", side_effect=synchronous_enqueue_job)
    def test_something(self, enqueue_job_mock: mock.Mock, job_log: Path) -> None:
        some_function_that_enqueues_a_background_job()
        assert enqueue_job_mock.call_count == 1
        assert (os.getpid(), "myext", "INFO", "Run at once") in records(job_log)
        assert jobs.job_list() == []  # ran synchronously, nothing was queued


def test_without_the_mock_the_same_function_queues_a_job() -> None:
    some_function_that_enqueues_a_background_job()
    [queued] = jobs.job_list()
    assert queued["title"] == "Synchronous"


# -- Migrating from CKAN's previous background job system ----------------------------------
def test_the_migrated_celery_echo_job(capfd: pytest.CaptureFixture[str]) -> None:
    job = jobs.enqueue(echo, ["Hello World"])
    jobs.Worker().work(burst=True)
    assert capfd.readouterr().out == "Hello World\n"
    job.refresh()
    assert job.state is jobs.JobState.FINISHED
    assert job.func_name == f"{__name__}:echo"


def test_compat_enqueue_uses_conveyor(capfd: pytest.CaptureFixture[str]) -> None:
    compat_enqueue("my_extension.echofunction", echo, ["Hello World"])
    [queued] = jobs.job_list()
    assert queued["func"] == f"{__name__}:echo"
    assert queued["args"] == ["Hello World"]
    jobs.Worker().work(burst=True)
    assert capfd.readouterr().out == "Hello World\n"
