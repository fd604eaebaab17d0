"""The web API reads a form-encoded POST body, as CKAN's action API does, per store.

CKAN's ``/api/3/action/<name>`` takes a POST body as JSON or as form fields
(``curl -d id=...``, ``requests.post(url, data={"id": ...})``); conveyor read
every body as JSON and answered such a call 400 (found by the audit). A JSON
body sent with the form content type (``curl -d '{"id": ...}'``, no header) is
still read as JSON.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import conveyor
import conveyor_test_jobs as jobs_module
from conveyor.web import auth, create_app

SITE_ID = "test.conveyor"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def store(store_kind: str, store_kind_url: str) -> str:
    """conveyor configured on each store in turn."""
    conveyor.configure(settings={"conveyor.backend": store_kind_url, "conveyor.site_id": SITE_ID})
    return store_kind


@pytest.fixture
def client(store: str) -> FlaskClient:
    return create_app().test_client()


@pytest.fixture
def token(store: str) -> str:
    return auth.create_token("ops")[1]


def post_form(client: FlaskClient, action: str, token: str, body: str | bytes) -> TestResponse:
    return client.post(
        f"/api/3/action/{action}",
        data=body,
        content_type=FORM,
        headers={"Authorization": token},
    )


def envelope(response: TestResponse) -> dict[str, Any]:
    body = response.get_json()
    assert isinstance(body, dict)
    return body


def test_job_cancel_takes_the_id_as_a_form_field(client: FlaskClient, token: str) -> None:
    job = conveyor.enqueue(jobs_module.add, [1, 2])
    response = post_form(client, "job_cancel", token, f"id={job.id}")
    assert (response.status_code, envelope(response)["success"]) == (200, True)
    assert conveyor.job_count() == 0


def test_job_clear_takes_repeated_form_fields_as_a_list(client: FlaskClient, token: str) -> None:
    for queue in ("a", "b", "c"):
        conveyor.enqueue(jobs_module.add, [1, 2], queue=queue)
    response = post_form(client, "job_clear", token, "queues=a&queues=b")
    assert envelope(response)["result"] == ["a", "b"]
    assert conveyor.job_list(ids_only=True, limit=10) == conveyor.get_queue("c").job_ids
    response = post_form(client, "job_clear", token, "queues=c")  # one field: still a list
    assert envelope(response)["result"] == ["c"]
    assert conveyor.job_count() == 0


def test_form_values_are_text_read_as_a_query_string_is(client: FlaskClient, token: str) -> None:
    first = conveyor.enqueue(jobs_module.add, [1, 2])
    conveyor.enqueue(jobs_module.add, [3, 4])
    response = post_form(client, "job_list", token, "limit=1&ids_only=true")
    assert envelope(response)["result"] == [first.id]


def test_a_json_body_sent_as_a_form_is_still_json(client: FlaskClient, token: str) -> None:
    job = conveyor.enqueue(jobs_module.add, [1, 2])
    response = post_form(client, "job_cancel", token, f' {{"id": "{job.id}"}}')
    assert (response.status_code, envelope(response)["success"]) == (200, True)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ("id=", "id", "Missing value"),
        ("ids=x", "ids", "Unknown parameter"),
    ],
)
def test_bad_form_fields_are_refused_by_name_and_change_nothing(
    client: FlaskClient, token: str, body: str, field: str, message: str
) -> None:
    conveyor.enqueue(jobs_module.add, [1, 2])
    response = post_form(client, "job_cancel", token, body)
    assert response.status_code == 409
    assert envelope(response)["error"][field] == [message]
    assert conveyor.job_count() == 1


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"id", "Error decoding form data: a field is not name=value"),
        (b"id=\xff", "Error decoding form data: the body is not UTF-8 text"),
    ],
)
def test_a_malformed_form_is_a_bad_request_that_changes_nothing(
    client: FlaskClient, token: str, body: bytes, problem: str
) -> None:
    conveyor.enqueue(jobs_module.add, [1, 2])
    response = post_form(client, "job_clear", token, body)
    assert response.status_code == 400
    error = envelope(response)["error"]
    assert error == {"__type": "Bad Request Error", "message": f"Bad request - {problem}"}
    assert conveyor.job_count() == 1


def test_the_openapi_document_offers_form_bodies(client: FlaskClient) -> None:
    document = envelope(client.get("/api/3/openapi.json"))
    clear = next(
        operations["post"]
        for path, operations in document["paths"].items()
        if path.endswith("/job_clear")
    )
    form = clear["requestBody"]["content"][FORM]["schema"]
    assert form["properties"]["queues"]["type"] == "array"
    cancel = next(
        operations["post"]
        for path, operations in document["paths"].items()
        if path.endswith("/job_cancel")
    )
    assert cancel["requestBody"]["content"][FORM]["schema"]["required"] == ["id"]
