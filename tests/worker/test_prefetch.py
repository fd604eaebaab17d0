"""Jobs claimed ahead for speed never wait behind a long job while a worker sits idle."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import conveyor
import conveyor_test_jobs
from support import StartWorker, state_of, wait_until


@pytest.mark.slow
def test_jobs_claimed_ahead_go_to_an_idle_worker_instead_of_waiting_behind_a_long_job(
    tmp_path: Path, start_worker: StartWorker
) -> None:
    # Worker A learns that jobs here are quick, so it starts claiming ahead.
    warm = conveyor.enqueue_many({"fn": conveyor_test_jobs.succeed} for _ in range(30))
    first = start_worker("--log-level", "DEBUG")
    wait_until(lambda: all(state_of(job) == "finished" for job in warm))

    # In one step: a job that blocks until released, then quick ones behind it.
    marker, release = tmp_path / "long.txt", tmp_path / "release"
    long_job, *quick = conveyor.enqueue_many(
        [
            {"fn": conveyor_test_jobs.touch_then_wait, "args": [str(marker), str(release)]},
            *({"fn": conveyor_test_jobs.succeed} for _ in range(10)),
        ]
    )
    wait_until(marker.exists)

    # Worker B is idle: the quick jobs must reach it while A is stuck.
    second = start_worker("--log-level", "DEBUG")
    wait_until(lambda: all(state_of(job) == "finished" for job in quick))
    assert state_of(long_job) == "started"
    assert {job.worker for job in quick} != {None}

    release.touch()
    wait_until(lambda: state_of(long_job) == "finished")
    log_a = first.stderr
    # The paths under test were taken: A had claimed quick jobs ahead (one of them
    # already sent to its busy child, to run next) and handed them back.
    assert "was held too long and put back on its queue" in log_a
    assert "was held behind a long job and put back on its queue" in log_a
    assert first.running()
    assert second.running()
    assert os.path.exists(marker)
