"""Periodic jobs with real worker processes: each tick runs once, however many workers."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

import conveyor
from conveyor.api import backend
from conveyor.backends import JobState
from support import StartWorker, run_cli, state_of, wait_until

pytestmark = pytest.mark.slow

SECTION = """
[conveyor:periodic:heartbeat]
function = conveyor_test_jobs:succeed
every = 1s
args = ["tick"]
"""


def configure(tmp_path: Path, url: str, name: str = "conveyor.ini") -> Path:
    """An ini declaring the one-second periodic job on the store at ``url``."""
    path = tmp_path / name
    path.write_text(
        f"[conveyor]\nconveyor.backend = {url}\nconveyor.site_id = periodic.test\n{SECTION}",
        encoding="utf-8",
    )
    return path


def periodic_env(subprocess_env: dict[str, str], ini: Path) -> dict[str, str]:
    env = dict(subprocess_env)
    for name in ("CONVEYOR_BACKEND", "CONVEYOR_SITE_ID"):
        env.pop(name, None)
    env["CONVEYOR_CONFIG"] = str(ini)
    return env


def periodic_jobs(states: tuple[JobState, ...] = tuple(JobState)) -> list[conveyor.Job]:
    config = conveyor.config.current()
    page = backend(config).list_jobs([config.queue_prefix + "default"], states=states)
    return [conveyor.Job(record, config) for record in page.items]


@pytest.fixture(params=["sqlite", "redis", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/periodic.sqlite3"
    return str(request.getfixturevalue(f"{request.param}_url"))


def test_three_workers_run_a_one_second_job_once_a_second(
    store_url: str, tmp_path: Path, subprocess_env: dict[str, str], start_worker: StartWorker
) -> None:
    ini = configure(tmp_path, store_url)
    conveyor.configure(ini)
    env = periodic_env(subprocess_env, ini)
    workers = [start_worker(env=env) for _ in range(3)]
    try:
        for worker in workers:
            worker.wait_for_log("has started")
        wait_until(lambda: len(conveyor.periodic_list()) == 1, "the workers to declare the job")
        start = time.time()
        wait_until(lambda: time.time() >= start + 10, "ten seconds", timeout=20)
        end = time.time()
        conveyor.periodic_disable("heartbeat")
        wait_until(
            lambda: not periodic_jobs((JobState.QUEUED, JobState.STARTED)),
            "the enqueued jobs to run",
        )
    finally:
        for worker in workers:
            worker.stop()
    jobs = periodic_jobs()
    ticks = Counter(job.meta["tick"] for job in jobs)
    assert max(ticks.values()) == 1, f"ticks enqueued more than once: {ticks}"
    assert all(job.state is JobState.FINISHED for job in jobs)
    in_window = [tick for tick in ticks if start < tick <= end]
    assert 9 <= len(in_window) <= 11, sorted(ticks)
    assert all(float(tick).is_integer() for tick in ticks)
    log = "".join(worker.stderr for worker in workers)
    assert log.count("Periodic job heartbeat: added job") == len(jobs)


def test_workers_on_two_stores_each_take_every_tick_in_their_own_store(
    tmp_path: Path, subprocess_env: dict[str, str], start_worker: StartWorker
) -> None:
    urls = [f"sqlite:///{tmp_path}/first.sqlite3", f"sqlite:///{tmp_path}/second.sqlite3"]
    inis = [configure(tmp_path, url, f"store-{n}.ini") for n, url in enumerate(urls)]
    workers = [start_worker(env=periodic_env(subprocess_env, ini)) for ini in inis]
    try:
        for worker in workers:
            worker.wait_for_log("has started")
        ticks: list[set[float]] = []
        for ini in inis:
            conveyor.configure(ini)

            def enough() -> bool:
                return len(periodic_jobs()) >= 3

            wait_until(enough, "three ticks in each store")
            ticks.append({job.meta["tick"] for job in periodic_jobs()})
            conveyor.periodic_disable("heartbeat")
    finally:
        for worker in workers:
            worker.stop()
    # Stores share nothing: each holds its own job for a tick both saw (documented).
    assert ticks[0] & ticks[1]


def test_a_busy_worker_still_takes_every_tick(
    tmp_path: Path, subprocess_env: dict[str, str], start_worker: StartWorker
) -> None:
    ini = configure(tmp_path, f"sqlite:///{tmp_path}/busy.sqlite3")
    conveyor.configure(ini)
    long_job = conveyor.enqueue("conveyor_test_jobs:sleep_for", [6], queue="default")
    worker = start_worker(env=periodic_env(subprocess_env, ini))
    try:
        wait_until(lambda: state_of(long_job) is JobState.STARTED, "the long job to start")
        wait_until(lambda: len(periodic_jobs((JobState.QUEUED,))) >= 3, "three ticks meanwhile")
        assert state_of(long_job) is JobState.STARTED  # its only child was busy all along
    finally:
        worker.stop()
    ticks = sorted(job.meta["tick"] for job in periodic_jobs() if "tick" in job.meta)
    assert ticks == [ticks[0] + n for n in range(len(ticks))]  # one a second, none missed


def test_a_worker_with_a_bad_periodic_section_does_not_start(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    ini = tmp_path / "bad.ini"
    ini.write_text(
        f"[conveyor]\nconveyor.backend = sqlite:///{tmp_path}/bad.sqlite3\n\n"
        "[conveyor:periodic:broken]\nfunction = conveyor_test_jobs:succeed\ncron = 0 25 * * *\n",
        encoding="utf-8",
    )
    result = run_cli(periodic_env(subprocess_env, ini), "jobs", "worker", "--burst")
    assert result.returncode == 1
    assert "[conveyor:periodic:broken]: Invalid cron expression '0 25 * * *': Bad hour" in (
        result.stderr
    )
    assert "has started" not in result.stderr


def test_a_worker_runs_a_job_declared_with_the_decorator_in_a_configured_module(
    tmp_path: Path, subprocess_env: dict[str, str], start_worker: StartWorker
) -> None:
    modules = tmp_path / "app"
    modules.mkdir()
    (modules / "app_periodic.py").write_text(
        "import conveyor\n\n"
        "@conveyor.periodic(every=1, name='decorated', args=['from the decorator'])\n"
        "def shout(text):\n"
        "    return text.upper()\n",
        encoding="utf-8",
    )
    ini = tmp_path / "app.ini"
    ini.write_text(
        f"[conveyor]\nconveyor.backend = sqlite:///{tmp_path}/app.sqlite3\n"
        "conveyor.periodic.modules = app_periodic\n",
        encoding="utf-8",
    )
    env = periodic_env(subprocess_env, ini)
    env["PYTHONPATH"] = f"{modules}:{env['PYTHONPATH']}"
    conveyor.configure(ini)
    worker = start_worker(env=env)
    try:
        wait_until(
            lambda: any(job.state is JobState.FINISHED for job in periodic_jobs()),
            "a tick's job to finish",
        )
    finally:
        worker.stop()
    finished = next(job for job in periodic_jobs() if job.state is JobState.FINISHED)
    assert (finished.meta["periodic"], finished.result) == ("decorated", "FROM THE DECORATOR")
    assert finished.record.func == "app_periodic:shout"
