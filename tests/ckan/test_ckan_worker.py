"""A conveyor worker running CKAN jobs: forks observed, CKAN's environment in every job process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import ckan_test_jobs
import pytest
from ckan.lib import jobs

from ckan import plugins


class ForkRecorder(plugins.SingletonPlugin):
    """An IForkObserver that notes the process it was called in."""

    plugins.implements(plugins.IForkObserver)
    calls: ClassVar[list[int]] = []

    def before_fork(self) -> None:
        ForkRecorder.calls.append(os.getpid())


@pytest.mark.provide_plugin("fork_recorder", ForkRecorder)
@pytest.mark.ckan_config("ckan.plugins", "conveyor fork_recorder")
@pytest.mark.usefixtures("with_plugins")
def test_fork_observers_are_called_before_every_job_process(tmp_path: Path) -> None:
    ForkRecorder.calls.clear()
    out = tmp_path / "processes.txt"
    for _ in range(2):
        jobs.enqueue(ckan_test_jobs.record_process, [str(out)])
    jobs.Worker().work(burst=True)
    assert ForkRecorder.calls == [os.getpid(), os.getpid()]  # the supervisor, one per job
    pids = [line.split()[0] for line in out.read_text().splitlines()]
    assert len(set(pids)) == 2  # a fresh process per job, as under RQ


def test_reused_job_processes_keep_ckans_environment(tmp_path: Path, ckan_config: Any) -> None:
    out = tmp_path / "processes.txt"
    for _ in range(3):
        jobs.enqueue(ckan_test_jobs.record_process, [str(out)])
    jobs.Worker(isolation="child").work(burst=True)
    lines = [line.split() for line in out.read_text().splitlines()]
    assert len(lines) == 3
    assert len({pid for pid, _, _ in lines}) == 1  # one child ran all three
    assert {site for _, site, _ in lines} == {ckan_config["ckan.site_id"]}
    assert all(users.isdigit() for _, _, users in lines)
