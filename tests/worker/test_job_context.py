"""A running job on real workers, on every store: itself, its meta and progress, timeouts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

import conveyor
import conveyor_test_jobs
import execution_jobs as jobs
from conveyor import JobState, Retry
from conveyor.backends import shared_backend
from support import StartWorker, is_gone, lines, run_cli, state_of, wait_until

SITE_ID = "test.conveyor"


@pytest.fixture
def store(store_kind_url: str) -> conveyor.Config:
    """Conveyor configured on each store in turn."""
    return conveyor.configure(
        settings={"conveyor.backend": store_kind_url, "conveyor.site_id": SITE_ID}
    )


@pytest.fixture
def env(store: conveyor.Config, subprocess_env: dict[str, str]) -> dict[str, str]:
    """A worker subprocess's environment on the store under test, with a short grace."""
    return {
        **subprocess_env,
        "CONVEYOR_BACKEND": store.backend,
        "CONVEYOR_JOBS_TIMEOUT_GRACE": "1",
    }


@pytest.fixture
def worker_env(env: dict[str, str]) -> dict[str, str]:
    """The workers ``start_worker`` starts here use the test's store."""
    return env


def test_an_async_job_runs_on_a_worker_and_does_its_work(
    env: dict[str, str], tmp_path: Path, start_worker: StartWorker
) -> None:
    path = tmp_path / "notes.txt"
    job = conveyor.enqueue(jobs.async_note, [str(path), "done in a child"])
    returned = conveyor.enqueue(jobs.returns_coroutine, [str(path)])

    worker = start_worker("--burst")

    assert worker.exit_code() == 0, worker.stderr
    assert state_of(job) is JobState.FINISHED
    assert job.result == "done in a child, knowing itself"
    assert lines(path) == ["done in a child"]
    assert state_of(returned) is JobState.FAILED
    assert returned.error is not None
    assert returned.error.type == "TypeError"
    assert "never awaited" not in worker.stderr


def test_a_running_job_knows_itself_on_a_worker(
    env: dict[str, str], tmp_path: Path, start_worker: StartWorker
) -> None:
    path = tmp_path / "self.json"
    job = conveyor.enqueue(
        jobs.describe_self,
        [str(path)],
        title="Push to datastore",
        description="push_to_datastore for resource 1",
        meta={"resource": 1},
        queue="loader",
    )

    worker = start_worker("--burst", "loader")

    assert worker.exit_code() == 0, worker.stderr
    seen = json.loads(path.read_text())
    assert seen["pid"] != worker.pid  # it ran in a child
    assert (seen["id"], seen["queue"], seen["origin"]) == (job.id, "loader", job.origin)
    assert seen["attempts"] == 1
    assert "push_to_datastore" in seen["description"]
    assert seen["meta"] == {"resource": 1, "title": "Push to datastore"}
    assert seen["state"] == "started"
    assert state_of(job) is JobState.FINISHED


def test_meta_and_progress_saved_by_a_running_job_are_seen_while_it_runs(
    env: dict[str, str], tmp_path: Path, start_worker: StartWorker
) -> None:
    path = tmp_path / "notes.txt"
    job = conveyor.enqueue(jobs.report_progress, [str(path)], meta={"from": "producer"})
    worker = start_worker("--burst")
    wait_until(lambda: lines(path) == ["saved"], "the job to save its meta")

    shown = conveyor.job_show(job.id)
    assert shown["state"] == "started"
    assert shown["meta"] == {"from": "producer", "rows": 3, "progress": shown["progress"]}
    assert shown["progress"] == {"fraction": 0.5, "message": "half way"}
    cli = run_cli(env, "jobs", "show", job.id)
    assert cli.returncode == 0, cli.stderr
    assert 'Progress: 50% "half way"' in cli.stdout
    assert '"rows": 3' in cli.stdout

    (tmp_path / "notes.txt.go").touch()
    assert worker.exit_code() == 0, worker.stderr
    assert state_of(job) is JobState.FINISHED
    assert job.progress == {"fraction": 1.0, "message": None}
    assert job.meta["rows"] == 3


def test_a_producer_saves_meta_of_a_job_in_any_state(store: conveyor.Config) -> None:
    job = conveyor.enqueue(conveyor_test_jobs.echo, ["x"], title="T", meta={"a": 1})
    job.meta["b"] = [1, "two"]
    job.meta["title"] = "not a new title"
    job.save_meta()
    again = conveyor.job_from_id(job.id)
    assert again.meta == {"a": 1, "b": [1, "two"], "title": "T"}
    assert again.title == "T"

    conveyor.testing.run_jobs()
    again.refresh()
    assert again.state is JobState.FINISHED
    again.meta.clear()
    again.save_meta()
    assert conveyor.job_from_id(job.id).meta == {"title": "T"}


@pytest.mark.parametrize(
    ("meta", "why"),
    [
        ({"when": object()}, "JSON"),
        ({"when": dt.date(2026, 1, 1)}, "JSON"),  # meta is plain JSON: no tagged values
        ({"nul": "a\x00b"}, "NUL"),
        ({"bad": "\udc80"}, "surrogate"),
        ({"nan": float("nan")}, "JSON cannot store"),
        ({1: "int key"}, "keys must be strings"),
    ],
)
def test_meta_no_store_could_keep_alike_is_refused_and_nothing_changes(
    store: conveyor.Config, meta: dict[object, object], why: str
) -> None:
    job = conveyor.enqueue(conveyor_test_jobs.succeed, meta={"kept": True})
    job.meta.update(meta)
    with pytest.raises(conveyor.SerializationError, match=why):
        job.save_meta()
    assert conveyor.job_from_id(job.id).meta == {"kept": True, "title": None}


@pytest.mark.parametrize("text", ["a\x00b", "\udc80"])
def test_enqueue_refuses_meta_text_no_store_could_keep_alike(
    store: conveyor.Config, text: str
) -> None:
    with pytest.raises(
        conveyor.SerializationError, match=r"meta (must not contain NUL|has a lone)"
    ):
        conveyor.enqueue(conveyor_test_jobs.succeed, meta={"nested": [{"k": text}]})
    assert conveyor.job_count() == 0


def test_meta_of_a_job_that_is_gone_is_not_saved(store: conveyor.Config) -> None:
    job = conveyor.enqueue(conveyor_test_jobs.succeed)
    conveyor.job_cancel(job.id)  # a queued job is deleted
    job.meta["late"] = True
    with pytest.raises(conveyor.NoSuchJobError):
        job.save_meta()
    assert shared_backend(store.backend, store.base_dir).get(job.id) is None


def test_a_timed_out_job_catches_the_exception_and_its_finally_runs(
    env: dict[str, str], tmp_path: Path, start_worker: StartWorker
) -> None:
    path = tmp_path / "notes.txt"
    job = conveyor.enqueue(jobs.xloader_like, [str(path)], timeout=1, retry=Retry(max=2))
    after = conveyor.enqueue(conveyor_test_jobs.echo, ["next"])

    worker = start_worker("--burst")

    assert worker.exit_code() == 0, worker.stderr
    assert lines(path) == [
        f"started {job.id}",
        "caught JobTimeoutException: Job exceeded maximum timeout value (1 seconds)",
        "finally errored=True",
    ]
    assert state_of(job) is JobState.FAILED
    assert job.attempts == 1  # a timeout is not retried
    assert job.error is not None
    assert (job.error.type, job.error.message) == (
        "JobTimeoutError",
        "Job exceeded maximum timeout value (1 seconds)",
    )
    assert job.meta["timed_out"] is True  # saved by its except block
    assert f"Job {job.id} on worker" in worker.stderr
    assert "timed out" in worker.stderr
    assert "killed" not in worker.stderr
    assert state_of(after) is JobState.FINISHED


def test_a_job_that_swallows_its_timeout_is_killed_after_the_grace(
    env: dict[str, str], tmp_path: Path, start_worker: StartWorker
) -> None:
    path = tmp_path / "notes.txt"
    job = conveyor.enqueue(jobs.swallows_timeout, [str(path)], timeout=1)
    after = conveyor.enqueue(conveyor_test_jobs.echo, ["next"])

    worker = start_worker("--burst")

    assert worker.exit_code() == 0, worker.stderr
    noted = lines(path)
    assert noted[1:] == ["swallowed"]
    assert is_gone(int(noted[0].split()[1]))
    assert state_of(job) is JobState.FAILED
    assert job.attempts == 1
    assert job.error is not None
    assert job.error.type == "JobTimeoutError"
    assert "its process was killed after 1s grace" in worker.stderr
    assert state_of(after) is JobState.FINISHED


def test_an_async_job_is_cancelled_at_its_timeout(
    env: dict[str, str], tmp_path: Path, start_worker: StartWorker
) -> None:
    path = tmp_path / "notes.txt"
    job = conveyor.enqueue(jobs.async_until_cancelled, [str(path)], timeout=1)

    worker = start_worker("--burst")

    assert worker.exit_code() == 0, worker.stderr
    assert lines(path) == ["cancelled", "finally"]
    assert state_of(job) is JobState.FAILED
    assert job.error is not None
    assert job.error.type == "JobTimeoutError"
    assert "killed" not in worker.stderr
