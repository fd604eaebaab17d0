"""The dashboard through Flask's test client: closed by default, CSRF, tokens, escaping, actions.

Browser behaviour (JS poller, confirmations) is in tests/browser/.
"""

from __future__ import annotations

import re
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient

import conveyor
import conveyor_test_jobs
from conveyor import api, config
from conveyor.backends.base import Completion, ErrorInfo, JobState, WorkerInfo
from conveyor.web import auth, create_app, create_dashboard_blueprint

HOSTILE = (
    "<script>alert('x')</script>\"'><img src=x onerror=alert(1)> javascript:alert(1) \x07\x1b"
)


@pytest.fixture
def store(store_kind_url: str, conveyor_env: conveyor.Config) -> str:
    """The test's site on each of the three stores."""
    conveyor.configure(
        settings={"conveyor.backend": store_kind_url, "conveyor.site_id": conveyor_env.site_id}
    )
    return store_kind_url


@pytest.fixture
def client() -> FlaskClient:
    return create_app().test_client()


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: FlaskClient, token: str) -> str:
    """Sign in; the CSRF value of the signed-in session."""
    page = client.get("/dashboard/signin").get_data(as_text=True)
    csrf = _csrf(page)
    answer = client.post("/dashboard/signin", data={"csrf": csrf, "token": token})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return _csrf(client.get("/dashboard/").get_data(as_text=True))


def test_every_page_is_closed_until_sign_in_and_a_bad_token_is_refused(
    client: FlaskClient,
) -> None:
    for path in ["/dashboard/", "/dashboard/jobs", "/dashboard/workers", "/dashboard/periodic"]:
        answer = client.get(path)
        assert answer.status_code == 302
        assert answer.location.endswith("/dashboard/signin")
    assert client.get("/dashboard/jobs/x/progress.json").status_code == 401
    csrf = _csrf(client.get("/dashboard/signin").get_data(as_text=True))
    refused = client.post("/dashboard/signin", data={"csrf": csrf, "token": "cvt_wrong"})
    assert refused.status_code == 200
    assert "does not open" in refused.get_data(as_text=True)
    assert client.get("/dashboard/").status_code == 302


def test_sign_in_sets_a_safe_cookie_and_never_shows_the_token(client: FlaskClient) -> None:
    _, token = auth.create_token("ops")
    csrf = _csrf(client.get("/dashboard/signin").get_data(as_text=True))
    answer = client.post("/dashboard/signin", data={"csrf": csrf, "token": token})
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/dashboard/" in cookie
    assert token not in cookie
    page = client.get("/dashboard/")
    assert page.status_code == 200
    assert token not in page.get_data(as_text=True)
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["Cache-Control"] == "no-store"


def test_the_csrf_value_changes_at_sign_in(client: FlaskClient) -> None:
    _, token = auth.create_token("ops")
    job = conveyor.enqueue(conveyor_test_jobs.succeed)
    before = _csrf(client.get("/dashboard/signin").get_data(as_text=True))
    after = sign_in(client, token)
    assert after != before
    answer = client.post(
        "/dashboard/action", data={"csrf": before, "action": "cancel", "ids": job.id}
    )
    assert answer.status_code == 400
    assert api.backend().get(job.id) is not None


def test_sign_in_without_the_forms_csrf_value_is_refused(client: FlaskClient) -> None:
    _, token = auth.create_token("ops")
    client.get("/dashboard/signin")
    assert client.post("/dashboard/signin", data={"token": token}).status_code == 400
    assert client.get("/dashboard/").status_code == 302


def test_a_revoked_token_loses_the_dashboard_at_once(client: FlaskClient) -> None:
    _, token = auth.create_token("ops")
    sign_in(client, token)
    assert client.get("/dashboard/").status_code == 200
    auth.revoke_token("ops")
    assert client.get("/dashboard/").status_code == 302


def test_every_page_renders_with_data_on_each_store(store: str, client: FlaskClient) -> None:
    _, token = auth.create_token("ops")
    done = conveyor.enqueue(conveyor_test_jobs.succeed, queue="mail", title="sent")
    conveyor.enqueue(conveyor_test_jobs.succeed, queue="mail", title="waiting")
    cfg = config.current()
    [claimed] = api.backend().claim(
        [cfg.queue_prefix + "mail"], worker="w1", lease=60, now=time.time()
    )
    assert claimed.id == done.id
    api.backend().register_worker(
        WorkerInfo(
            key="w-key-1",
            queues=(cfg.queue_prefix + "mail",),
            host="box.example",
            pid=4242,
            started_at=time.time() - 30,
            heartbeat_at=time.time(),
            jobs=(claimed.id,),
            state="busy",
            name="box.4242",
        ),
        ttl=60,
        now=time.time(),
    )
    sign_in(client, token)
    overview = client.get("/dashboard/").get_data(as_text=True)
    assert 'data-queue="mail"' in overview
    assert "<svg" in overview
    assert re.search(r'data-testid="workers-busy">1<', overview)
    queued = client.get("/dashboard/jobs?state=queued&queue=mail").get_data(as_text=True)
    assert "waiting" in queued
    assert 'data-testid="total">1 queued job' in queued
    started = client.get("/dashboard/jobs?state=started").get_data(as_text=True)
    assert claimed.id in started
    found = client.get("/dashboard/jobs?state=queued&q=WAIT").get_data(as_text=True)
    assert "waiting" in found
    assert "sent" not in found.split("<tbody>")[1]
    job_page = client.get(f"/dashboard/jobs/{claimed.id}").get_data(as_text=True)
    assert 'data-testid="job-state">started<' in job_page
    assert "<dd>w1</dd>" in job_page
    workers = client.get("/dashboard/workers").get_data(as_text=True)
    assert "box.example" in workers
    assert "4242" in workers
    assert client.get("/dashboard/periodic").status_code == 200
    progress = client.get(f"/dashboard/jobs/{claimed.id}/progress.json").get_json()
    assert progress["state"] == "started"
    assert client.get("/dashboard/jobs/no-such-job").status_code == 404


def test_hostile_job_data_is_escaped(client: FlaskClient) -> None:
    _, token = auth.create_token("ops")
    job = conveyor.enqueue(
        conveyor_test_jobs.succeed, args=[HOSTILE], kwargs={"x": HOSTILE}, title=HOSTILE
    )
    sign_in(client, token)
    for path in ["/dashboard/jobs", f"/dashboard/jobs/{job.id}"]:
        page = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert "&lt;script&gt;alert" in page
        assert "\x07" not in page
        assert "\x1b" not in page
        assert 'href="javascript' not in page


def test_actions_need_csrf_and_a_full_token_and_change_the_store(client: FlaskClient) -> None:
    _, full = auth.create_token("ops")
    _, read = auth.create_token("viewer", read_only=True)
    job = conveyor.enqueue(conveyor_test_jobs.succeed, queue="q")

    csrf = sign_in(client, read)
    answer = client.post(
        "/dashboard/action", data={"csrf": csrf, "action": "cancel", "ids": job.id}
    )
    assert answer.status_code == 403
    assert "is read-only" in answer.get_data(as_text=True)
    assert api.backend().get(job.id).state is JobState.QUEUED  # type: ignore[union-attr]

    other = create_app().test_client()
    csrf = sign_in(other, full)
    answer = other.post("/dashboard/action", data={"action": "cancel", "ids": job.id})
    assert answer.status_code == 400
    answer = other.post(
        "/dashboard/action", data={"csrf": "forged", "action": "cancel", "ids": job.id}
    )
    assert answer.status_code == 400
    assert api.backend().get(job.id).state is JobState.QUEUED  # type: ignore[union-attr]

    answer = other.post(
        "/dashboard/action",
        data={"csrf": csrf, "action": "cancel", "ids": job.id, "next": "/dashboard/jobs"},
    )
    assert answer.status_code == 302
    assert "Canceled+1+job" in answer.location
    assert api.backend().get(job.id) is None  # a queued job canceled is removed

    running = conveyor.enqueue(conveyor_test_jobs.succeed, queue="q")
    prefix = config.current().queue_prefix
    api.backend().claim([prefix + "q"], worker="w1", lease=60, now=time.time())
    other.post("/dashboard/action", data={"csrf": csrf, "action": "cancel", "ids": running.id})
    assert api.backend().get(running.id).state is JobState.CANCELED  # type: ignore[union-attr]
    answer = other.post(
        "/dashboard/action", data={"csrf": csrf, "action": "requeue", "ids": running.id}
    )
    assert "Requeued+1+job" in answer.location
    assert api.backend().get(running.id).state is JobState.QUEUED  # type: ignore[union-attr]
    other.post("/dashboard/action", data={"csrf": csrf, "action": "delete", "ids": running.id})
    assert api.backend().get(running.id) is None
    conveyor.enqueue(conveyor_test_jobs.succeed, queue="q")
    answer = other.post(
        "/dashboard/action", data={"csrf": csrf, "action": "clear_queue", "queue": "q"}
    )
    assert "Cleared+queue+q" in answer.location
    assert conveyor.manage.job_count(["q"]) == 0


def test_an_offsite_next_is_not_followed(client: FlaskClient) -> None:
    _, full = auth.create_token("ops")
    job = conveyor.enqueue(conveyor_test_jobs.succeed)
    csrf = sign_in(client, full)
    answer = client.post(
        "/dashboard/action",
        data={"csrf": csrf, "action": "cancel", "ids": job.id, "next": "//evil.example/"},
    )
    assert answer.location.startswith("/dashboard/?")


def test_mounted_in_a_host_app_it_needs_a_secret_key() -> None:
    host = Flask("host")
    host.register_blueprint(create_dashboard_blueprint(), url_prefix="/ops/jobs")
    refused = host.test_client().get("/ops/jobs/signin")
    assert refused.status_code == 500
    assert "set app.secret_key" in refused.get_data(as_text=True)
    host.secret_key = "s3cret"
    answer = host.test_client().get("/ops/jobs/signin")
    assert answer.status_code == 200
    assert "Path=/ops/jobs/" in answer.headers["Set-Cookie"]


def test_jobs_are_paginated_sorted_and_filtered_by_function(client: FlaskClient) -> None:
    _, token = auth.create_token("ops")
    made = [
        conveyor.enqueue(conveyor_test_jobs.succeed, queue="p", title=f"job {n:02}").id
        for n in range(30)
    ]
    echo = conveyor.enqueue(conveyor_test_jobs.echo, args=[1], queue="p", title="echo").id
    sign_in(client, token)

    def listed(query: str) -> list[str]:
        page = client.get(f"/dashboard/jobs?{query}").get_data(as_text=True)
        return re.findall(r'<tr data-job="([^"]+)">', page)

    assert listed("state=queued&queue=p") == [*made, echo][:25]
    assert listed("state=queued&queue=p&page=2") == [*made, echo][25:]
    assert listed("state=queued&queue=p&func=echo") == [echo]
    newest = listed("state=queued&queue=p&sort=newest")
    assert newest[0] == echo
    assert newest[1:] == list(reversed(made))[:24]
    assert listed("state=queued&queue=p&q=job+07") == [made[7]]
    assert listed(f"state=queued&q={made[3]}") == [made[3]]
    assert listed("state=failed&queue=p") == []


def test_a_failed_jobs_page_shows_each_attempt_with_its_traceback(client: FlaskClient) -> None:
    _, token = auth.create_token("ops")
    job = conveyor.enqueue(conveyor_test_jobs.succeed, queue="f", max_attempts=1)
    record = api.backend().claim(
        [config.current().queue_prefix + "f"], worker="w1", lease=60, now=time.time()
    )[0]
    error = ErrorInfo(
        type="ValueError",
        message="bad <input>",
        traceback='Traceback (most recent call last):\n  File "<job>"\nValueError: bad <input>',
        attempt=1,
        at=time.time(),
        started_at=record.started_at,
    )
    completion = Completion(job.id, str(record.lease_token), JobState.FAILED, error=error)
    assert api.backend().complete([completion], now=time.time()) == [True]
    sign_in(client, token)
    page = client.get(f"/dashboard/jobs/{job.id}").get_data(as_text=True)
    attempts = page.split('data-testid="attempts"')[1]
    assert "<b>ValueError</b>: bad &lt;input&gt;" in attempts
    assert "File &#34;&lt;job&gt;&#34;" in attempts
    assert "<td>failed</td>" in attempts
