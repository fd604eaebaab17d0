"""``/metrics`` in a host application: the blueprint beside the API and dashboard blueprints."""

from __future__ import annotations

import sys
from datetime import timedelta

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

import conveyor
import conveyor_test_jobs
from conveyor.web import auth, create_blueprint, create_dashboard_blueprint
from conveyor.web.metrics import add_metrics_route, create_metrics_blueprint


@pytest.fixture
def store(store_kind_url: str, conveyor_env: conveyor.Config) -> str:
    """The test's site on each of the three stores."""
    conveyor.configure(
        settings={"conveyor.backend": store_kind_url, "conveyor.site_id": conveyor_env.site_id}
    )
    return store_kind_url


def host_app() -> Flask:
    app = Flask("host")
    app.secret_key = "host-secret"
    app.register_blueprint(create_blueprint(), url_prefix="/ops/api/3")
    app.register_blueprint(create_dashboard_blueprint(), url_prefix="/ops/jobs")
    app.register_blueprint(create_metrics_blueprint(), url_prefix="/ops")
    return app


def gauges(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_host_app_serves_metrics_from_the_blueprint_with_a_token(store: str) -> None:
    for _ in range(2):
        conveyor.enqueue(conveyor_test_jobs.succeed, queue="mail")
    conveyor.enqueue_in(timedelta(hours=1), conveyor_test_jobs.succeed, queue="mail")
    client = host_app().test_client()
    assert client.get("/ops/metrics").status_code == 403
    assert (
        client.get("/ops/metrics", headers={"Authorization": "Bearer cvt_no"}).status_code == 403
    )
    token = auth.create_token("prometheus", read_only=True)[1]
    answer = client.get("/ops/metrics", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.mimetype == "text/plain"
    found = gauges(answer.get_data(as_text=True))
    assert found["conveyor_queue_jobs", frozenset({("queue", "mail"), ("state", "queued")})] == 2
    assert (
        found["conveyor_queue_jobs", frozenset({("queue", "mail"), ("state", "scheduled")})] == 1
    )
    # The API and the dashboard still answer beside it.
    listed = client.get("/ops/api/3/action/job_count", headers={"Authorization": token})
    assert listed.get_json()["result"] == 2
    assert client.get("/ops/jobs/signin").status_code == 200


def test_without_prometheus_client_the_blueprint_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'conveyor\[metrics\]'"):
        create_metrics_blueprint()
    app = Flask("host")
    assert add_metrics_route(app) is False
    assert app.test_client().get("/metrics").status_code == 404
