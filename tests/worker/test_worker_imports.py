"""A newcomer's project: a worker imports its jobs as RQ's, Dramatiq's and Huey's do.

Each test builds a throwaway project (its own ``tasks.py``) and runs real
``conveyor`` processes with no PYTHONPATH: the worker must find the code from
the directory it is started in, from ``--path`` or from ``conveyor.worker.path``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import conveyor
from conveyor import JobState
from conveyor.backends import ErrorInfo, JobRecord
from conveyor.worker.child import Outcome
from conveyor.worker.outcomes import Recorder, code_missing_delay
from conveyor.worker.pool import HandedJob
from conveyor.worker.supervisor import backend_label
from support import CONVEYOR, WAIT

TASKS = textwrap.dedent(
    """
    import logging
    from pathlib import Path

    log = logging.getLogger("tasks")


    def record(done_dir, tag):
        log.warning("job %s says hello", tag)
        Path(done_dir, tag).write_text("done")
        return tag
    """
)
ENQUEUE = textwrap.dedent(
    """
    import sys

    import conveyor
    import tasks

    for tag in sys.argv[2:]:
        job = conveyor.enqueue(tasks.record, [sys.argv[1], tag], title=f"record {tag}")
        print(job.id)
    """
)


@pytest.fixture(params=["sqlite", "redis", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL of each kind: the worker's import path does not depend on it."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/project.sqlite3"
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory with its own tasks.py and a script that enqueues from it."""
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "tasks.py").write_text(TASKS)
    (directory / "enqueue.py").write_text(ENQUEUE)
    (tmp_path / "done").mkdir()
    return directory


def clean_env(store_url: str) -> dict[str, str]:
    """The environment of a newcomer's shell: no PYTHONPATH, conveyor's store set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env.pop("PYTHONPATH", None)
    env["CONVEYOR_BACKEND"] = store_url
    env["CONVEYOR_SITE_ID"] = "newcomer"
    return env


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=WAIT * 2, check=False
    )


def enqueue(project: Path, env: dict[str, str], *tags: str) -> list[str]:
    done = project.parent / "done"
    made = run([sys.executable, "enqueue.py", str(done), *tags], project, env)
    assert made.returncode == 0, made.stderr
    return made.stdout.split()


def states(store_url: str, ids: list[str]) -> list[JobState]:
    with conveyor.config.override({"conveyor.backend": store_url, "conveyor.site_id": "newcomer"}):
        return [conveyor.job_from_id(job_id).state for job_id in ids]


def test_a_burst_worker_started_in_the_project_runs_its_jobs(project: Path, store: str) -> None:
    env = clean_env(store)
    ids = enqueue(project, env, "one", "two", "three")

    worked = run([CONVEYOR, "jobs", "worker", "--burst"], project, env)

    assert worked.returncode == 0, worked.stderr
    assert states(store, ids) == [JobState.FINISHED] * 3, worked.stderr
    assert sorted(p.name for p in (project.parent / "done").iterdir()) == ["one", "three", "two"]


def test_a_worker_started_elsewhere_imports_from_path(project: Path, tmp_path: Path) -> None:
    env = clean_env(f"sqlite:///{tmp_path}/project.sqlite3")
    ids = enqueue(project, env, "far")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    worked = run([CONVEYOR, "jobs", "worker", "--burst", "--path", str(project)], elsewhere, env)

    assert worked.returncode == 0, worked.stderr
    assert states(f"sqlite:///{tmp_path}/project.sqlite3", ids) == [JobState.FINISHED]


def test_the_config_key_adds_directories_relative_to_the_config_file(
    project: Path, tmp_path: Path
) -> None:
    env = clean_env(f"sqlite:///{tmp_path}/project.sqlite3")
    ids = enqueue(project, env, "configured")
    ini = tmp_path / "conveyor.ini"
    ini.write_text("[conveyor]\nconveyor.worker.path =\n    project\n    done\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    worked = run([CONVEYOR, "-c", str(ini), "jobs", "worker", "--burst"], elsewhere, env)

    assert worked.returncode == 0, worked.stderr
    assert states(f"sqlite:///{tmp_path}/project.sqlite3", ids) == [JobState.FINISHED]


def test_python_dash_m_conveyor_runs_a_worker(project: Path, tmp_path: Path) -> None:
    env = clean_env(f"sqlite:///{tmp_path}/project.sqlite3")
    ids = enqueue(project, env, "module")

    worked = run([sys.executable, "-m", "conveyor", "jobs", "worker", "--burst"], project, env)

    assert worked.returncode == 0, worked.stderr
    assert states(f"sqlite:///{tmp_path}/project.sqlite3", ids) == [JobState.FINISHED]
    helped = run([sys.executable, "-m", "conveyor", "--help"], project, env)
    assert helped.stdout.startswith("Usage: conveyor ")


def test_a_path_that_is_not_a_directory_is_refused(project: Path, tmp_path: Path) -> None:
    env = clean_env(f"sqlite:///{tmp_path}/project.sqlite3")
    ini = tmp_path / "conveyor.ini"
    ini.write_text("[conveyor]\nconveyor.worker.path = no-such-dir\n")

    refused = run([CONVEYOR, "-c", str(ini), "jobs", "worker", "--burst"], project, env)

    assert refused.returncode == 1
    assert f"Import path {tmp_path / 'no-such-dir'}" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "project.sqlite3").exists()


def test_a_worker_without_the_code_says_so_and_does_not_use_up_the_attempt(
    project: Path, tmp_path: Path, store: str
) -> None:
    env = clean_env(store)
    [job_id] = enqueue(project, env, "lost")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    before = time.time()
    worked = run([CONVEYOR, "jobs", "worker", "--burst"], elsewhere, env)

    assert worked.returncode == 0, worked.stderr
    with conveyor.config.override({"conveyor.backend": store, "conveyor.site_id": "newcomer"}):
        job = conveyor.job_from_id(job_id)
    assert (job.state, job.attempts) == (JobState.SCHEDULED, 0)
    assert job.record.run_at is not None
    assert before + 15 <= job.record.run_at <= time.time() + 15
    [error] = job.errors
    assert error.type == "JobImportError"
    assert "Cannot import module 'tasks'" in error.message
    assert f"working directory {elsewhere}" in error.message
    assert f"'{elsewhere}'" in error.message  # the import path, which holds the directory
    logged = [line for line in worked.stderr.splitlines() if " ERROR " in line]
    assert len(logged) == 1, worked.stderr
    assert f"cannot run job {job_id} (record lost)" in logged[0]
    assert "tried again, its attempt not counted" in logged[0]


def test_job_output_comes_after_its_starts_line(project: Path, tmp_path: Path) -> None:
    """Also for quick jobs, which a worker hands a child ahead of time."""
    env = clean_env(f"sqlite:///{tmp_path}/project.sqlite3")
    tags = [f"t{n}" for n in range(150)]
    ids = enqueue(project, env, *tags)

    worked = run([CONVEYOR, "jobs", "worker", "--burst", "--name", "ada"], project, env)

    assert worked.returncode == 0, worked.stderr
    lines = worked.stderr.splitlines()
    for job_id, tag in zip(ids, tags, strict=True):
        [starts] = [i for i, line in enumerate(lines) if f"ada starts job {job_id} " in line]
        [hello] = [i for i, line in enumerate(lines) if f"job {tag} says hello" in line]
        [done] = [i for i, line in enumerate(lines) if f"has finished job {job_id} " in line]
        assert starts < hello < done, "\n".join(lines[starts - 2 : done + 2])


def test_json_logs_carry_the_job_fields(project: Path, tmp_path: Path) -> None:
    env = clean_env(f"sqlite:///{tmp_path}/project.sqlite3")
    [job_id] = enqueue(project, env, "json")

    worked = run([CONVEYOR, "jobs", "worker", "--burst", "--log-format", "json"], project, env)

    assert worked.returncode == 0, worked.stderr
    entries = [json.loads(line) for line in worked.stderr.splitlines()]
    started = entries[0]
    assert started["message"].startswith(f"Worker {started['worker']} (PID ")
    assert (started["site_id"], started["store"]) == (
        "newcomer",
        f"sqlite:///{tmp_path}/project.sqlite3",
    )
    [finished] = [e for e in entries if "has finished job" in e["message"]]
    assert finished["level"] == "INFO"
    assert (finished["job_id"], finished["queue"], finished["attempt"]) == (job_id, "default", 1)
    assert finished["worker"] == started["worker"]
    assert isinstance(finished["duration"], float)
    [hello] = [e for e in entries if e["logger"] == "tasks"]
    assert hello["message"] == "job json says hello"


def test_the_json_log_format_can_be_configured(project: Path, tmp_path: Path) -> None:
    env = clean_env(f"sqlite:///{tmp_path}/project.sqlite3")
    env["CONVEYOR_LOG_FORMAT"] = "json"
    env["CONVEYOR_WORKER_NAME"] = "bee"

    worked = run([CONVEYOR, "jobs", "worker", "--burst"], project, env)

    assert worked.returncode == 0, worked.stderr
    entries = [json.loads(line) for line in worked.stderr.splitlines()]
    # The store is new here, so the backend says it made it; every other line is the worker's.
    [created] = [e for e in entries if e["logger"] == "conveyor.backends"]
    assert created["message"].startswith("Created a new job store at ")
    ours = [e for e in entries if e is not created]
    assert ours
    assert all(e["logger"] == "conveyor.worker" for e in ours)
    assert {e["worker"] for e in ours} == {"bee"}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@db:6379/0?namespace=x", "redis://:***@db:6379/0?namespace=x"),
        ("redis://user:s3cret@db/1", "redis://user:***@db/1"),
        (
            "postgresql://app@db/jobs?password=s3cret",
            "postgresql://app@db/jobs?password=***",
        ),
        ("postgresql://app@db/jobs?schema=q", "postgresql://app@db/jobs?schema=q"),
    ],
)
def test_the_start_up_line_hides_a_password(url: str, shown: str) -> None:
    assert backend_label(object(), url) == shown  # type: ignore[arg-type]


# -- the code-missing policy, step by step ----------------------------------------------------
def test_a_job_whose_code_is_missing_waits_longer_each_time() -> None:
    delays = [code_missing_delay(n) for n in (1, 2, 3, 8, 9, 20)]
    assert delays == [15.0, 30.0, 60.0, 1920.0, 3600.0, 3600.0]
    assert code_missing_delay(21) is None


def _claimed(errors: int) -> HandedJob:
    missing = ErrorInfo("JobImportError", "Cannot import module 'tasks'", attempt=1, at=1.0)
    record = JobRecord(
        id="j1",
        queue="conveyor:site:default",
        func="tasks:record",
        payload=b"[[], {}]",
        state=JobState.STARTED,
        created_at=1.0,
        enqueued_at=1.0,
        timeout=180,
        attempts=1,
        lease_token="token",
        errors=(ErrorInfo("RuntimeError", "an older failure", attempt=1), *[missing] * errors),
    )
    return HandedJob(record, "token", started_at=2.0)


@pytest.mark.parametrize(
    ("missing_before", "state", "counted"),
    [(0, JobState.SCHEDULED, False), (19, JobState.SCHEDULED, False), (20, JobState.FAILED, True)],
)
def test_a_job_whose_code_stays_missing_fails_after_twenty_tries(
    missing_before: int, state: JobState, counted: bool
) -> None:
    recorder = Recorder("w")
    error = ErrorInfo("JobImportError", "Cannot import module 'tasks' (...)", attempt=1, at=3.0)
    running = _claimed(missing_before)

    recorder.raised(running, Outcome(1, "j1", False, 0.01, error=error))

    [done] = recorder.take()
    assert (done.state, done.count_attempt) == (state, counted)
    assert done.error is not None
    assert done.error.type == "JobImportError"
    assert (recorder.retried, recorder.failed) == (0 if counted else 1, 1 if counted else 0)
