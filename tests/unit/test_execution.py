"""How a job runs: one run_job() for workers and conveyor.testing, async jobs, the current job."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import conveyor
import conveyor_test_jobs
import execution_jobs as jobs
from conveyor import JobState
from conveyor.testing import run_jobs, run_synchronously


def test_a_coroutine_function_is_awaited_and_its_result_stored(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    job = conveyor.enqueue(jobs.async_note, [str(path), "hello"])
    [ran] = run_jobs()
    assert ran.state is JobState.FINISHED
    assert ran.id == job.id
    assert ran.result == "hello, knowing itself"
    assert path.read_text() == "hello\n"


def test_a_returned_coroutine_fails_without_a_never_awaited_warning(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a "never awaited" RuntimeWarning would fail the test
        with run_synchronously(raise_errors=False) as ran:
            conveyor.enqueue(jobs.returns_coroutine, [str(tmp_path / "x")])
    assert ran[0].state is JobState.FAILED
    assert not (tmp_path / "x").exists()


def test_async_job_runs_under_run_synchronously_inside_a_running_event_loop(
    tmp_path: Path,
) -> None:
    import asyncio

    path = tmp_path / "notes.txt"

    async def an_async_test() -> list[conveyor.Job]:
        with run_synchronously() as ran:
            conveyor.enqueue(jobs.async_note, [str(path), "nested loop"])
        return ran

    [job] = asyncio.run(an_async_test())
    assert job.state is JobState.FINISHED
    assert job.result == "nested loop, knowing itself"


def test_outside_a_job_there_is_no_current_job() -> None:
    assert conveyor.get_current_job() is None
    assert conveyor.set_progress(0.5) is False


def test_a_job_knows_itself_under_run_synchronously_and_run_jobs(tmp_path: Path) -> None:
    sync_path, stored_path = tmp_path / "sync.json", tmp_path / "stored.json"
    with run_synchronously() as ran:
        conveyor.enqueue(
            jobs.describe_self, [str(sync_path)], title="Me", meta={"k": 1}, queue="q1"
        )
    queued = conveyor.enqueue(
        jobs.describe_self, [str(stored_path)], description="about me", queue="q2"
    )
    [stored] = run_jobs("q2")

    seen = json.loads(sync_path.read_text())
    assert seen["id"] == ran[0].id
    assert (seen["queue"], seen["title"], seen["meta"]) == ("q1", "Me", {"k": 1, "title": "Me"})
    assert (seen["attempts"], seen["state"], seen["args"]) == (1, "started", [str(sync_path)])
    assert seen["func_name"] == "execution_jobs:describe_self"
    seen = json.loads(stored_path.read_text())
    assert (seen["id"], seen["queue"], seen["description"]) == (queued.id, "q2", "about me")
    assert seen["origin"] == queued.origin
    assert stored.result == seen
    assert conveyor.get_current_job() is None  # reset after each job


def test_a_job_enqueued_by_a_job_is_the_current_job_while_it_runs(tmp_path: Path) -> None:
    path = tmp_path / "inner.json"
    with run_synchronously() as ran:
        conveyor.enqueue(jobs.enqueue_and_report, [str(path)])
    inner, outer = ran  # the inner job ends first
    assert json.loads(path.read_text())["id"] == inner.id != outer.id
    assert outer.state is JobState.FINISHED


def test_meta_saved_by_a_job_under_run_synchronously_is_in_its_outcome(tmp_path: Path) -> None:
    go = tmp_path / "notes.txt.go"
    go.touch()  # the job need not wait
    with run_synchronously() as ran:
        conveyor.enqueue(jobs.report_progress, [str(tmp_path / "notes.txt")])
    assert ran[0].meta["rows"] == 3
    assert ran[0].progress == {"fraction": 1.0, "message": None}


def test_meta_saved_by_a_job_under_run_jobs_is_stored(tmp_path: Path) -> None:
    (tmp_path / "notes.txt.go").touch()
    job = conveyor.enqueue(jobs.report_progress, [str(tmp_path / "notes.txt")])
    run_jobs()
    shown = conveyor.job_show(job.id)
    assert shown["meta"]["rows"] == 3
    assert shown["progress"] == {"fraction": 1.0, "message": None}


@pytest.mark.parametrize(
    ("fraction", "message"),
    [(-0.1, None), (1.5, None), (float("nan"), None), (True, None), ("0.5", None), (0.5, 3)],
)
def test_bad_progress_is_refused_and_nothing_is_saved(fraction: object, message: object) -> None:
    job = conveyor.enqueue(conveyor_test_jobs.succeed)
    with pytest.raises(conveyor.ValidationError):
        job.set_progress(fraction, message)  # type: ignore[arg-type]
    assert conveyor.job_show(job.id)["progress"] is None


def test_the_web_api_shows_a_jobs_progress_and_meta() -> None:
    from conveyor.web import auth, create_app

    job = conveyor.enqueue(conveyor_test_jobs.succeed, meta={"resource": "r-1"})
    job.set_progress(0.4, "4000 of 10000 rows")
    token = auth.create_token("ops")[1]
    client = create_app().test_client()
    response = client.post(
        "/api/3/action/job_show", json={"id": job.id}, headers={"Authorization": f"Bearer {token}"}
    )
    shown = response.get_json()["result"]
    assert shown["progress"] == {"fraction": 0.4, "message": "4000 of 10000 rows"}
    assert shown["meta"] == {"resource": "r-1", "progress": shown["progress"]}
