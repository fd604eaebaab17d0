"""The dashboard with the host's own sign-in (``authenticate``), as the CKAN plugin mounts it."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

import conveyor
import conveyor_test_jobs
from conveyor import api
from conveyor.backends.base import JobState
from conveyor.web import create_dashboard_blueprint
from conveyor.web.dashboard_session import Viewer

PEOPLE = {"root": Viewer("root"), "auditor": Viewer("auditor", read_only=True)}


def who_is_it() -> Viewer | None:
    """The host's sign-in, reduced to a header naming the person (a test stand-in)."""
    return PEOPLE.get(request.headers.get("X-Person", ""))


@pytest.fixture
def store(store_kind_url: str, conveyor_env: conveyor.Config) -> str:
    """The test's site on each of the three stores."""
    conveyor.configure(
        settings={"conveyor.backend": store_kind_url, "conveyor.site_id": conveyor_env.site_id}
    )
    return store_kind_url


@pytest.fixture
def host() -> Flask:
    app = Flask("host")
    app.secret_key = "host-secret"
    app.register_blueprint(
        create_dashboard_blueprint(authenticate=who_is_it, url_prefix="/admin/jobs")
    )
    return app


def as_person(client: FlaskClient, person: str) -> None:
    client.environ_base["HTTP_X_PERSON"] = person


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


def test_nobody_the_host_did_not_sign_in_gets_in(host: Flask) -> None:
    client = host.test_client()
    for path in ["/admin/jobs/", "/admin/jobs/jobs", "/admin/jobs/workers", "/admin/jobs/signin"]:
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert "for this site&#39;s administrators" in answer.get_data(as_text=True)
    assert client.post("/admin/jobs/action", data={"action": "cancel"}).status_code == 403
    as_person(client, "stranger")
    assert client.get("/admin/jobs/").status_code == 403


def test_the_hosts_user_sees_the_pages_without_a_token(store: str, host: Flask) -> None:
    job = conveyor.enqueue(conveyor_test_jobs.succeed, queue="mail", title="hello")
    client = host.test_client()
    as_person(client, "root")
    overview = client.get("/admin/jobs/")
    assert overview.status_code == 200
    text = overview.get_data(as_text=True)
    assert 'data-testid="who">root<' in text
    assert "Sign out" not in text
    assert "Path=/admin/jobs/" in overview.headers["Set-Cookie"]
    assert "script-src 'self'" in overview.headers["Content-Security-Policy"]
    assert "hello" in client.get("/admin/jobs/jobs?state=queued").get_data(as_text=True)
    assert client.get(f"/admin/jobs/jobs/{job.id}").status_code == 200
    signin = client.get("/admin/jobs/signin")
    assert signin.status_code == 302
    assert signin.location.endswith("/admin/jobs/")


def test_the_hosts_user_acts_with_the_pages_csrf_value(
    store: str, host: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    later = conveyor.enqueue_in(timedelta(hours=1), conveyor_test_jobs.succeed)
    client = host.test_client()
    as_person(client, "root")
    page = client.get(f"/admin/jobs/jobs/{later.id}").get_data(as_text=True)
    assert 'data-action="run_now"' in page
    csrf = csrf_of(page)

    forged = client.post(
        "/admin/jobs/action", data={"csrf": "forged", "action": "run_now", "ids": later.id}
    )
    assert forged.status_code == 400
    missing = client.post("/admin/jobs/action", data={"action": "run_now", "ids": later.id})
    assert missing.status_code == 400
    assert api.backend().get(later.id).state is JobState.SCHEDULED  # type: ignore[union-attr]

    with caplog.at_level(logging.INFO, logger="conveyor.web"):
        done = client.post(
            "/admin/jobs/action", data={"csrf": csrf, "action": "run_now", "ids": later.id}
        )
    assert done.status_code == 302
    assert "Made+due+now+1+job" in done.location
    assert api.backend().get(later.id).state is JobState.QUEUED  # type: ignore[union-attr]
    assert 'Dashboard: run_now by user "root"' in caplog.text


def test_a_read_only_viewer_looks_but_cannot_act(store: str, host: Flask) -> None:
    job = conveyor.enqueue(conveyor_test_jobs.succeed)
    client = host.test_client()
    as_person(client, "root")  # the same browser, so the same session and CSRF value
    csrf = csrf_of(client.get(f"/admin/jobs/jobs/{job.id}").get_data(as_text=True))
    as_person(client, "auditor")
    page = client.get(f"/admin/jobs/jobs/{job.id}").get_data(as_text=True)
    assert "(read-only)" in page
    assert 'data-action="cancel"' not in page
    refused = client.post(
        "/admin/jobs/action", data={"csrf": csrf, "action": "cancel", "ids": job.id}
    )
    assert refused.status_code == 403
    assert "may look at the dashboard but not act" in refused.get_data(as_text=True)
    assert api.backend().get(job.id).state is JobState.QUEUED  # type: ignore[union-attr]
