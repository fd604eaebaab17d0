"""conveyor's own commands under ``ckan conveyor``, configured from the site's ini."""

from __future__ import annotations

from typing import Any

from ckan.cli.cli import ckan
from ckan.lib import jobs


def test_conveyor_commands_are_reachable_from_ckan(cli: Any) -> None:
    job = jobs.enqueue(jobs.test_job, ["x"], title="Shown", queue="q9")
    queues = cli.invoke(ckan, ["conveyor", "jobs", "queues"])
    assert queues.exit_code == 0, queues.output
    assert "q9 queued=1" in queues.output
    shown = cli.invoke(ckan, ["conveyor", "jobs", "show", job.id])
    assert shown.exit_code == 0, shown.output
    assert 'Title:   "Shown"' in shown.output
    assert "State:   queued" in shown.output


def test_a_conveyor_error_is_a_message_and_exit_code_1(cli: Any) -> None:
    jobs.enqueue(jobs.test_job, ["the store exists"])
    result = cli.invoke(ckan, ["conveyor", "jobs", "requeue", "no-such-job"])
    assert result.exit_code == 1
    assert 'There is no job with ID "no-such-job"' in result.output


def test_ckan_jobs_worker_runs_a_job_on_conveyor_with_ckans_lines(cli: Any) -> None:
    job = jobs.enqueue(jobs.test_job, ["hello"], queue="q8")
    result = cli.invoke(ckan, ["jobs", "worker", "--burst", "--no-scheduler", "q8"])
    assert result.exit_code == 0, result.output
    assert f'starts job {job.id} from queue "q8"' in result.output
    assert f'has finished job {job.id} from queue "q8"' in result.output
    assert jobs.job_from_id(job.id).get_status() == "finished"


def test_conveyor_info_names_the_sites_ini_and_site(cli: Any, ckan_config: Any) -> None:
    jobs.enqueue(jobs.test_job, ["the store exists"])
    result = cli.invoke(ckan, ["conveyor", "info"])
    assert result.exit_code == 0, result.output
    assert f"Config file: {ckan_config['__file__']}" in result.output
    assert f"Site id:     {ckan_config['ckan.site_id']}" in result.output
