"""Pausing queues and quieting or stopping workers: Python, CLI and web API, real workers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import conveyor
import conveyor_test_jobs
from conveyor import JobState
from conveyor.api import backend
from conveyor.backends.base import WorkerInfo
from conveyor.cli import main
from conveyor.web import auth, create_app
from support import StartWorker, state_of, wait_until


@pytest.fixture(params=["sqlite", "redis", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/steer.sqlite3"
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def worker_env(
    store_url: str, conveyor_env: conveyor.Config, subprocess_env: dict[str, str]
) -> dict[str, str]:
    """Both this process and the workers it starts use the store at ``store_url``."""
    conveyor.configure(
        settings={"conveyor.backend": store_url, "conveyor.site_id": conveyor_env.site_id}
    )
    return {**subprocess_env, "CONVEYOR_BACKEND": store_url}


def heartbeat_of(key: str) -> float:
    config = conveyor.config.current()
    for info in backend(config).workers(config.queue_prefix, now=time.time()):
        if info.key == key:
            return info.heartbeat_at
    raise AssertionError(f"worker {key} is not registered")


def wait_for_heartbeats(key: str, count: int) -> None:
    """Wait until the worker has beaten ``count`` more times (it read its controls each time)."""
    for _ in range(count):
        last = heartbeat_of(key)
        wait_until(lambda last=last: heartbeat_of(key) > last, "a heartbeat")


def test_a_paused_queue_is_skipped_until_resumed(
    tmp_path: Path, start_worker: StartWorker
) -> None:
    assert conveyor.queue_pause("held") is True
    assert conveyor.queue_pause("held") is False
    assert conveyor.paused_queues() == ["held"]
    held = conveyor.enqueue(conveyor_test_jobs.touch, [str(tmp_path / "held")], queue="held")
    free = conveyor.enqueue(conveyor_test_jobs.touch, [str(tmp_path / "free")], queue="free")
    # The worker claims "held" first: had it not skipped it, its job would run first.
    worker = start_worker("held", "free")
    try:
        wait_until(lambda: state_of(free) is JobState.FINISHED, "the free queue's job")
        assert state_of(held) is JobState.QUEUED
        assert not (tmp_path / "held").exists()
        assert conveyor.queue_resume("held") is True
        assert conveyor.queue_resume("held") is False
        assert conveyor.paused_queues() == []
        wait_until(lambda: state_of(held) is JobState.FINISHED, "the resumed queue's job")
    finally:
        worker.stop()


def test_a_quiet_worker_finishes_its_job_claims_no_more_and_stops_when_told(
    tmp_path: Path, start_worker: StartWorker
) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    running = conveyor.enqueue(conveyor_test_jobs.touch_then_wait, [str(started), str(release)])
    worker = start_worker()
    try:
        key = worker.key
        wait_until(started.exists, "the first job to start")
        quieted = conveyor.worker_quiet(worker.name)
        assert quieted["key"] == key
        wait_until(lambda: conveyor.worker_list()[0]["state"] == "quiet", "the quiet state")
        assert conveyor.worker_list()[0]["jobs"] == [running.id]
        waiting = conveyor.enqueue(conveyor_test_jobs.succeed)
        release.touch()
        wait_until(lambda: state_of(running) is JobState.FINISHED, "the running job to finish")
        wait_for_heartbeats(key, 2)
        assert state_of(waiting) is JobState.QUEUED
        assert worker.running()
        conveyor.worker_stop(key)
        assert worker.exit_code() == 0
        assert state_of(waiting) is JobState.QUEUED
        assert conveyor.worker_list() == []
        assert "was asked to claim no more jobs" in worker.stderr
        assert "was asked to stop" in worker.stderr
    finally:
        worker.stop()


def test_a_stopped_worker_finishes_the_job_it_runs(
    tmp_path: Path, start_worker: StartWorker
) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    running = conveyor.enqueue(conveyor_test_jobs.touch_then_wait, [str(started), str(release)])
    worker = start_worker()
    try:
        wait_until(started.exists, "the job to start")
        conveyor.worker_stop(worker.key)
        wait_until(lambda: conveyor.worker_list()[0]["state"] == "stopping", "stopping")
        release.touch()
        assert worker.exit_code() == 0
        assert state_of(running) is JobState.FINISHED
    finally:
        worker.stop()


def register(key: str, name: str) -> None:
    config = conveyor.config.current()
    now = time.time()
    info = WorkerInfo(
        key=key,
        queues=(config.queue_prefix + "default",),
        host="host",
        pid=1,
        started_at=now,
        heartbeat_at=now,
        name=name,
    )
    backend(config).register_worker(info, ttl=60, now=now)


def command_for(key: str) -> str | None:
    return backend().worker_control(key, []).command


@pytest.mark.parametrize("name", ["", " ", "bad\x00name", "x" * 1000, None, 3])
def test_a_bad_queue_name_is_refused_and_nothing_paused(name: Any) -> None:
    for function in (conveyor.queue_pause, conveyor.queue_resume):
        with pytest.raises(conveyor.ValidationError) as caught:
            function(name)
        assert "queue" in caught.value.errors
    assert conveyor.paused_queues() == []


def test_workers_are_found_by_key_then_by_unique_name() -> None:
    register("conveyor:worker:one", "twin")
    register("conveyor:worker:two", "twin")
    register("conveyor:worker:three", "solo")
    with pytest.raises(conveyor.ValidationError, match="2 workers are named 'twin'"):
        conveyor.worker_quiet("twin")
    assert command_for("conveyor:worker:one") is None
    assert conveyor.worker_quiet("conveyor:worker:one")["name"] == "twin"
    assert conveyor.worker_stop("solo")["key"] == "conveyor:worker:three"
    assert command_for("conveyor:worker:one") == "quiet"
    assert command_for("conveyor:worker:two") is None
    assert command_for("conveyor:worker:three") == "stop"


@pytest.mark.parametrize("function", [conveyor.worker_quiet, conveyor.worker_stop])
def test_an_unknown_worker_is_not_found(function: Any) -> None:
    register("conveyor:worker:one", "one")
    with pytest.raises(conveyor.NoSuchWorkerError, match=r'no live worker .* "nobody"'):
        function("nobody")
    with pytest.raises(conveyor.ValidationError):
        function("")
    assert command_for("nobody") is None
    assert command_for("conveyor:worker:one") is None


def test_the_cli_pauses_resumes_quiets_and_stops(conveyor_env: conveyor.Config) -> None:
    env = {"CONVEYOR_BACKEND": conveyor_env.backend, "CONVEYOR_SITE_ID": conveyor_env.site_id}

    def cli(*args: str) -> Any:
        return CliRunner().invoke(main, ["jobs", *args], env=env)

    conveyor.enqueue(conveyor_test_jobs.succeed, queue="alpha")
    paused = cli("pause", "alpha", "beta")
    assert paused.exit_code == 0, paused.output
    assert 'Paused queue "alpha"' in paused.output
    assert 'Paused queue "beta"' in paused.output
    assert 'Queue "alpha" was paused already' in cli("pause", "alpha").output
    assert "alpha (paused) queued=1" in cli("queues").output
    assert "beta (paused) queued=0" in cli("queues").output  # listed, though it has no job
    assert [(q["name"], q["paused"]) for q in conveyor.queue_list()] == [
        ("alpha", True),
        ("beta", True),
    ]
    resumed = cli("resume", "alpha", "gamma")
    assert 'Resumed queue "alpha"' in resumed.output
    assert 'Queue "gamma" was not paused' in resumed.output
    assert conveyor.paused_queues() == ["beta"]
    refused = cli("pause", "ok", "bad\x01name")
    assert refused.exit_code == 1
    assert conveyor.paused_queues() == ["beta"]  # nothing paused: not even "ok"
    assert cli("pause").exit_code == 2
    register("conveyor:worker:one", "one")
    assert "Asked worker one to claim no more jobs" in cli("quiet", "one").output
    assert "Asked worker one to stop" in cli("stop", "conveyor:worker:one").output
    assert command_for("conveyor:worker:one") == "stop"
    missing = cli("quiet", "nobody")
    assert missing.exit_code == 1
    assert 'There is no live worker with key or name "nobody"' in missing.output


def test_the_web_api_acts_with_a_full_token_only() -> None:
    client = create_app().test_client()
    full = {"Authorization": f"Bearer {auth.create_token('ops')[1]}"}
    read = {"Authorization": f"Bearer {auth.create_token('look', read_only=True)[1]}"}

    def call(action: str, headers: dict[str, str], **body: Any) -> Any:
        return client.post(f"/api/3/action/{action}", json=body, headers=headers)

    assert call("queue_pause", read, queue="alpha").status_code == 403
    assert conveyor.paused_queues() == []
    answer = call("queue_pause", full, queue="alpha")
    assert answer.status_code == 200
    assert answer.json["result"] is True
    assert conveyor.paused_queues() == ["alpha"]
    assert call("queue_resume", read, queue="alpha").status_code == 403
    assert call("queue_resume", full, queue="alpha").json["result"] is True
    assert conveyor.paused_queues() == []
    assert call("queue_pause", full, queue="").status_code == 409
    register("conveyor:worker:one", "one")
    assert call("worker_quiet", read, worker="one").status_code == 403
    assert command_for("conveyor:worker:one") is None
    quieted = call("worker_quiet", full, worker="one")
    assert quieted.status_code == 200
    assert quieted.json["result"]["key"] == "conveyor:worker:one"
    assert command_for("conveyor:worker:one") == "quiet"
    assert call("worker_stop", full, worker="conveyor:worker:one").status_code == 200
    assert command_for("conveyor:worker:one") == "stop"
    assert call("worker_stop", full, worker="nobody").status_code == 404
