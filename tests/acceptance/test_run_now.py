"""Running a scheduled job now, and a periodic job once now: Python, CLI, web API, dashboard.

Each test runs on the three stores (SQLite, Redis, PostgreSQL); the backend
operation itself is in the conformance suite (RunNowConformance).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask.testing import FlaskClient

import conveyor
import conveyor_test_jobs
from conveyor import api, config
from conveyor.backends.base import JobState
from conveyor.backends.periodic import PeriodicDeclaration
from conveyor.cli import main
from conveyor.exceptions import JobStateError, NoSuchJobError, NoSuchPeriodicJob, PeriodicJobError
from conveyor.periodic_jobs import declare
from conveyor.periodic_jobs.ticker import declaration
from conveyor.web import auth, create_app

LATER = timedelta(hours=1)


@pytest.fixture
def store(store_kind_url: str, conveyor_env: conveyor.Config) -> str:
    """The test's site on each of the three stores."""
    conveyor.configure(
        settings={"conveyor.backend": store_kind_url, "conveyor.site_id": conveyor_env.site_id}
    )
    return store_kind_url


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    before = set(declare.registered())
    yield
    for name in set(declare.registered()) - before:
        declare.remove(name)


@pytest.fixture
def cli(store: str, conveyor_env: conveyor.Config) -> Any:
    """``conveyor ...`` in process, on the test's store and site."""
    api.backend()  # read-only commands refuse a store that does not exist
    env = {"CONVEYOR_BACKEND": store, "CONVEYOR_SITE_ID": conveyor_env.site_id}

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), env=env)

    return invoke


def state_of(job_id: str) -> JobState | None:
    record = api.backend().get(job_id)
    return None if record is None else record.state


def scheduled(queue: str = "default", **options: Any) -> conveyor.Job:
    job = conveyor.enqueue_in(LATER, conveyor_test_jobs.echo, args=[1], queue=queue, **options)
    assert state_of(job.id) is JobState.SCHEDULED
    return job


def queued_ids(queue: str = "default") -> list[str]:
    return [str(found) for found in conveyor.job_list([queue], ids_only=True)]


# -- Python ------------------------------------------------------------------------------------
def test_job_run_now_queues_a_scheduled_job_at_the_back(store: str) -> None:
    first = conveyor.enqueue(conveyor_test_jobs.succeed)
    later = scheduled()
    shown = conveyor.job_run_now(later.id)
    assert (shown["id"], shown["state"], shown["scheduled_for"]) == (later.id, "queued", None)
    assert queued_ids() == [first.id, later.id]
    conveyor.Worker(["default"]).work(burst=True)
    assert later.wait(timeout=10) == 1


def test_job_run_now_refuses_other_states_and_changes_nothing(store: str) -> None:
    waiting = conveyor.enqueue(conveyor_test_jobs.succeed)
    with pytest.raises(JobStateError, match=r"is queued; only scheduled jobs can be run now"):
        conveyor.job_run_now(waiting.id)
    conveyor.Worker(["default"]).work(burst=True)
    with pytest.raises(JobStateError, match=r"is finished; only scheduled jobs can be run now"):
        conveyor.job_run_now(waiting.id)
    assert state_of(waiting.id) is JobState.FINISHED
    with pytest.raises(NoSuchJobError):
        conveyor.job_run_now("no-such-job")
    with pytest.raises(conveyor.ValidationError):
        conveyor.job_run_now("")


def test_a_job_of_another_site_is_not_found(store: str) -> None:
    later = scheduled()
    conveyor.configure(settings={"conveyor.backend": store, "conveyor.site_id": "elsewhere"})
    with pytest.raises(NoSuchJobError):
        conveyor.job_run_now(later.id)
    assert state_of(later.id) is JobState.SCHEDULED


def test_the_job_objects_run_now_refreshes_it(store: str) -> None:
    later = scheduled()
    later.run_now()
    assert later.state is JobState.QUEUED
    assert later.is_queued
    with pytest.raises(JobStateError):
        later.run_now()


# -- CLI ---------------------------------------------------------------------------------------
def test_the_run_now_command_makes_a_job_due_or_says_why_not(cli: Any) -> None:
    later = scheduled("mail")
    done = cli("jobs", "run-now", later.id)
    assert done.exit_code == 0, done.output
    assert done.stdout == f'Job {later.id} is due now, on queue "mail"\n'
    assert state_of(later.id) is JobState.QUEUED

    again = cli("jobs", "run-now", later.id)
    assert again.exit_code == 1
    assert f"Job {later.id} is queued; only scheduled jobs can be run now" in again.stderr
    assert "Traceback" not in again.output
    missing = cli("jobs", "run-now", "no-such-job")
    assert missing.exit_code == 1
    assert 'There is no job with ID "no-such-job"' in missing.stderr


# -- web API -----------------------------------------------------------------------------------
def test_the_job_run_now_action_needs_a_full_token_and_returns_the_job(store: str) -> None:
    client = create_app().test_client()
    _, full = auth.create_token("ops")
    _, read = auth.create_token("viewer", read_only=True)
    later = scheduled()

    refused = client.post(
        "/api/3/action/job_run_now",
        json={"id": later.id},
        headers={"Authorization": f"Bearer {read}"},
    )
    assert refused.status_code == 403
    assert state_of(later.id) is JobState.SCHEDULED

    answer = client.post(
        "/api/3/action/job_run_now",
        json={"id": later.id},
        headers={"Authorization": f"Bearer {full}"},
    )
    body = answer.get_json()
    assert answer.status_code == 200, body
    assert (body["result"]["id"], body["result"]["state"]) == (later.id, "queued")
    assert state_of(later.id) is JobState.QUEUED

    conflict = client.post(
        "/api/3/action/job_run_now",
        json={"id": later.id},
        headers={"Authorization": f"Bearer {full}"},
    )
    assert conflict.status_code == 409
    assert "only scheduled jobs can be run now" in str(conflict.get_json()["error"])
    unknown = client.post(
        "/api/3/action/job_run_now",
        json={"id": "no-such-job"},
        headers={"Authorization": f"Bearer {full}"},
    )
    assert unknown.status_code == 404


# -- dashboard ---------------------------------------------------------------------------------
def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: FlaskClient, token: str) -> str:
    """Sign in; the CSRF value of the signed-in session."""
    csrf = _csrf(client.get("/dashboard/signin").get_data(as_text=True))
    answer = client.post("/dashboard/signin", data={"csrf": csrf, "token": token})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return _csrf(client.get("/dashboard/").get_data(as_text=True))


def test_run_now_on_the_dashboard_from_a_jobs_page_and_the_scheduled_list(store: str) -> None:
    client = create_app().test_client()
    _, full = auth.create_token("ops")
    one, two = scheduled(), scheduled()
    csrf = sign_in(client, full)

    page = client.get(f"/dashboard/jobs/{one.id}").get_data(as_text=True)
    assert 'data-action="run_now"' in page
    listing = client.get("/dashboard/jobs?state=scheduled").get_data(as_text=True)
    assert 'value="run_now"' in listing
    assert 'value="run_now"' not in client.get("/dashboard/jobs?state=queued").get_data(
        as_text=True
    )

    answer = client.post(
        "/dashboard/action",
        data={
            "csrf": csrf,
            "action": "run_now",
            "ids": [one.id],
            "next": f"/dashboard/jobs/{one.id}",
        },
    )
    assert answer.status_code == 302
    assert "Made+due+now+1+job" in answer.location
    assert state_of(one.id) is JobState.QUEUED
    assert 'data-action="run_now"' not in client.get(f"/dashboard/jobs/{one.id}").get_data(
        as_text=True
    )

    both = client.post(
        "/dashboard/action", data={"csrf": csrf, "action": "run_now", "ids": [one.id, two.id]}
    )
    assert "Made+due+now+1+job%3B+1+not" in both.location
    assert queued_ids() == [one.id, two.id]


def test_run_now_on_the_dashboard_needs_csrf_and_a_full_token(store: str) -> None:
    _, read = auth.create_token("viewer", read_only=True)
    _, full = auth.create_token("ops")
    later = scheduled()
    viewer = create_app().test_client()
    csrf = sign_in(viewer, read)
    assert 'data-action="run_now"' not in viewer.get(f"/dashboard/jobs/{later.id}").get_data(
        as_text=True
    )
    refused = viewer.post(
        "/dashboard/action", data={"csrf": csrf, "action": "run_now", "ids": later.id}
    )
    assert refused.status_code == 403
    operator = create_app().test_client()
    sign_in(operator, full)
    forged = operator.post(
        "/dashboard/action", data={"csrf": "forged", "action": "run_now", "ids": later.id}
    )
    assert forged.status_code == 400
    assert state_of(later.id) is JobState.SCHEDULED


# -- a periodic job, once, now -----------------------------------------------------------------
def _entry(name: str) -> Any:
    prefix = config.current().queue_prefix
    return next(e for e in api.backend().periodic_entries(prefix) if e.name == prefix + name)


def test_periodic_run_enqueues_one_run_and_leaves_the_schedule(store: str) -> None:
    job = conveyor.register_periodic(
        conveyor_test_jobs.echo, name="report", every=3600, args=[7], queue="reports"
    )
    cfg = config.current()
    api.backend().declare_periodic([declaration(job, cfg, time.time())], now=time.time())
    before = _entry("report")
    listed_before = next(e for e in conveyor.periodic_list() if e["name"] == "report")

    run = conveyor.periodic_run("report")

    assert run.queue == "reports"
    assert run.args == [7]
    assert dict(run.record.meta) == {"periodic": "report", "run_now": True}
    assert state_of(run.id) is JobState.QUEUED
    assert _entry("report") == before  # no tick taken, no last job recorded
    listed = next(e for e in conveyor.periodic_list() if e["name"] == "report")
    assert listed["next_run"] == listed_before["next_run"]
    conveyor.Worker(["reports"]).work(burst=True)
    assert run.wait(timeout=10) == 7


def test_periodic_run_of_a_job_only_the_workers_declare(store: str) -> None:
    prefix = config.current().queue_prefix
    name = prefix + "nightly"
    entry = PeriodicDeclaration(
        name, "every 3600", "UTC", "conveyor_test_jobs:echo", prefix + "default", time.time()
    )
    api.backend().declare_periodic([entry], now=time.time())
    with pytest.raises(PeriodicJobError, match="arguments are unknown here"):
        conveyor.periodic_run("nightly")
    assert conveyor.job_count(["default"]) == 0

    # Once a tick has run, its job (while kept) is what a run now copies.
    ticked = api.build_job(
        "conveyor_test_jobs:echo", ["tick"], None, "nightly", config=config.current(),
        now=time.time(),
    )  # fmt: skip
    assert api.backend().claim_tick(name, time.time() + 1, ticked, now=time.time())
    copy = conveyor.periodic_run("nightly")
    assert copy.id != ticked.id
    assert (copy.args, copy.title, copy.queue) == (["tick"], "nightly", "default")
    assert conveyor.job_count(["default"]) == 2
    with pytest.raises(NoSuchPeriodicJob):
        conveyor.periodic_run("never-declared")


def test_periodic_run_from_the_cli_and_the_dashboard(store: str, cli: Any) -> None:
    conveyor.register_periodic(conveyor_test_jobs.echo, name="report", every=3600, args=[3])
    done = cli("periodic", "run", "report")
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("Enqueued periodic job report now as job ")
    assert conveyor.job_count(["default"]) == 1
    missing = cli("periodic", "run", "nobody")
    assert missing.exit_code == 1
    assert "Traceback" not in missing.output

    client = create_app().test_client()
    _, full = auth.create_token("ops")
    csrf = sign_in(client, full)
    page = client.get("/dashboard/periodic").get_data(as_text=True)
    assert 'data-action="periodic_run"' in page
    answer = client.post(
        "/dashboard/action", data={"csrf": csrf, "action": "periodic_run", "name": "report"}
    )
    assert answer.status_code == 302
    assert "Enqueued+report+now+as+job" in answer.location
    assert conveyor.job_count(["default"]) == 2
    refused = client.post("/dashboard/action", data={"action": "periodic_run", "name": "report"})
    assert refused.status_code == 400
    assert conveyor.job_count(["default"]) == 2
