"""conveyor's dashboard in a CKAN site, at /ckan-admin/jobs/: for sysadmins only, CSRF kept."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import ckan_test_jobs
import pytest
from ckan.lib import jobs

import conveyor
from ckan import model
from conveyor.ckan import jobs as conveyor_jobs

pytestmark = pytest.mark.usefixtures("clean_db", "with_plugins")

URL = "/ckan-admin/jobs"
# Where the test client's CKAN login cookie is set (not ckan.site_url's host).
BASE = "http://localhost"


def client_of(app: Any, user: dict[str, Any] | None) -> Any:
    """A test client signed in to CKAN as ``user`` (by CKAN's own login cookie), or anonymous."""
    return app.test_client(user=None if user is None else model.User.get(user["name"]))


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


def scheduled_job() -> conveyor.Job:
    conveyor_jobs.current_config()  # conveyor configured from the site, as CKAN's jobs are
    return conveyor.enqueue_in(timedelta(hours=1), ckan_test_jobs.write, ["/dev/null", "x"])


def test_anonymous_visitors_and_ordinary_users_are_refused(app: Any, user: Any) -> None:
    job = jobs.enqueue(ckan_test_jobs.write, ["/dev/null", "x"], title="waiting")
    for who in (None, user):
        client = client_of(app, who)
        for path in ["/", "/jobs", f"/jobs/{job.id}", "/workers", "/periodic"]:
            answer = client.get(URL + path, follow_redirects=False, base_url=BASE)
            assert answer.status_code == 403, (who, path)
        refused = client.post(
            URL + "/action",
            data={"action": "cancel", "ids": job.id},
            follow_redirects=False,
            base_url=BASE,
        )
        assert refused.status_code in {400, 403}
    assert jobs.job_from_id(job.id).state is conveyor.JobState.QUEUED


def test_a_sysadmin_sees_the_pages_without_a_conveyor_token(app: Any, sysadmin: Any) -> None:
    job = jobs.enqueue(ckan_test_jobs.write, ["/dev/null", "x"], title="<b>hostile</b>")
    client = client_of(app, sysadmin)
    overview = client.get(URL + "/", follow_redirects=False, base_url=BASE)
    assert overview.status_code == 200, overview.get_data(as_text=True)[-2000:]
    text = overview.get_data(as_text=True)
    assert f'data-testid="who">{sysadmin["name"]}<' in text
    assert 'data-queue="default"' in text
    listing = client.get(URL + "/jobs?state=queued", follow_redirects=False, base_url=BASE)
    body = listing.get_data(as_text=True)
    assert job.id in body
    assert "&lt;b&gt;hostile&lt;/b&gt;" in body
    assert "<b>hostile</b>" not in body
    assert client.get(URL + "/static/dashboard.css", base_url=BASE).status_code == 200
    assert client.get(URL + "/signin", follow_redirects=False, base_url=BASE).status_code == 302


@pytest.mark.ckan_config("WTF_CSRF_ENABLED", True)
def test_a_sysadmin_acts_with_the_dashboards_own_csrf_check(app: Any, sysadmin: Any) -> None:
    later = scheduled_job()
    client = client_of(app, sysadmin)
    page = client.get(f"{URL}/jobs/{later.id}", follow_redirects=False, base_url=BASE).get_data(
        as_text=True
    )
    assert 'data-action="run_now"' in page

    for form in ({}, {"csrf": "forged"}):
        refused = client.post(
            URL + "/action",
            data={**form, "action": "run_now", "ids": later.id},
            follow_redirects=False,
            base_url=BASE,
        )
        assert refused.status_code == 400
    assert jobs.job_from_id(later.id).state is conveyor.JobState.SCHEDULED

    done = client.post(
        URL + "/action",
        data={"csrf": csrf_of(page), "action": "run_now", "ids": later.id},
        follow_redirects=False,
        base_url=BASE,
    )
    assert done.status_code == 302, done.get_data(as_text=True)[-2000:]
    assert "Made+due+now+1+job" in done.location
    assert jobs.job_from_id(later.id).state is conveyor.JobState.QUEUED
