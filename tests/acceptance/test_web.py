"""The web API through Flask's test client: every action, code and envelope."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder, TestResponse, run_wsgi_app

import conveyor
import conveyor_test_jobs
from conveyor import api, config
from conveyor.backends.base import WorkerInfo
from conveyor.cli import main
from conveyor.web import auth, create_app, create_blueprint
from conveyor.web.actions import ACTIONS

READ_ACTIONS = ["job_list", "job_count", "job_show", "queue_list", "worker_list"]
WRITE_ACTIONS = ["job_cancel", "job_clear", "job_requeue"]
POST_ONLY_MESSAGE = (
    "Bad request - JSON Error: Invalid request. Please use POST method for your request"
)


@pytest.fixture
def app() -> Flask:
    return create_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def full_token() -> str:
    return auth.create_token("ops")[1]


@pytest.fixture
def read_token() -> str:
    return auth.create_token("dashboard", read_only=True)[1]


@pytest.fixture
def cli(conveyor_env: conveyor.Config) -> Any:
    """Run the conveyor command in-process, on the test's database and site."""
    env = {"CONVEYOR_BACKEND": conveyor_env.backend, "CONVEYOR_SITE_ID": conveyor_env.site_id}

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), env=env)

    return invoke


def bearer(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def post(client: FlaskClient, action: str, token: str | None = None, **body: Any) -> TestResponse:
    return client.post(f"/api/3/action/{action}", json=body, headers=bearer(token))


def get(
    client: FlaskClient, action: str, token: str | None = None, query: Any = ()
) -> TestResponse:
    return client.get(f"/api/3/action/{action}", query_string=query, headers=bearer(token))


def result(response: TestResponse) -> Any:
    """The result of a successful call, after checking the envelope around it."""
    body = response.get_json()
    assert response.status_code == 200, body
    assert response.mimetype == "application/json"
    assert list(body) == ["help", "success", "result"]
    assert body["success"] is True
    return body["result"]


def error(response: TestResponse, status: int) -> dict[str, Any]:
    """The error object of a refused call, after checking its status and envelope."""
    body = response.get_json()
    assert response.status_code == status, body
    assert response.mimetype == "application/json"
    assert list(body) == ["help", "success", "error"]
    assert body["success"] is False
    return body["error"]


def enqueue(queue: str = "default", **options: Any) -> conveyor.Job:
    return conveyor.enqueue(conveyor_test_jobs.succeed, queue=queue, **options)


def failed_job(queue: str = "default") -> conveyor.Job:
    job = conveyor.enqueue(conveyor_test_jobs.failing_job, queue=queue)
    conveyor.Worker([queue]).work(burst=True)
    assert conveyor.job_show(job.id)["state"] == "failed"
    return job


# -- the reference's actions ----------------------------------------------------------------
def test_job_list_answers_in_the_references_envelope(client: FlaskClient, full_token: str) -> None:
    enqueue("b", title="second")
    enqueue("a", title="first")
    response = post(client, "job_list", full_token)
    assert result(response) == conveyor.job_list()
    assert [job["title"] for job in result(response)] == ["first", "second"]
    help_url = response.get_json()["help"]
    assert help_url == "http://localhost/api/3/action/help_show?name=job_list"


def test_job_list_by_get_takes_repeated_queue_parameters(
    client: FlaskClient, full_token: str
) -> None:
    a, b, _ = enqueue("a"), enqueue("b"), enqueue("c")
    query = [("queues", "b"), ("queues", "a"), ("ids_only", "true")]
    assert result(get(client, "job_list", full_token, query)) == [b.id, a.id]


def test_job_list_by_get_with_one_queue_parameter_reads_it_as_a_list(
    client: FlaskClient, full_token: str
) -> None:
    job = enqueue("only")
    enqueue("other")
    query = {"queues": "only", "ids_only": "yes"}
    assert result(get(client, "job_list", full_token, query)) == [job.id]


def test_job_list_pages_with_limit_offset_and_job_count_gives_the_total(
    client: FlaskClient, full_token: str
) -> None:
    ids = [enqueue().id for _ in range(5)]
    page = post(client, "job_list", full_token, limit=2, offset=2, ids_only=True)
    assert result(page) == ids[2:4]
    assert result(post(client, "job_count", full_token)) == 5
    query = {"limit": "2", "offset": "4", "ids_only": "true"}
    assert result(get(client, "job_list", full_token, query)) == ids[4:]
    assert result(get(client, "job_count", full_token, {"queues": "elsewhere"})) == 0


def test_job_list_accepts_the_references_string_forms_of_limit_and_ids_only(
    client: FlaskClient, full_token: str
) -> None:
    first = enqueue()
    enqueue()
    response = post(client, "job_list", full_token, limit="1", ids_only="true")
    assert result(response) == [first.id]
    assert result(post(client, "job_list", full_token, limit=1.0, ids_only="yes")) == [first.id]


def test_job_list_and_job_count_filter_by_state(client: FlaskClient, full_token: str) -> None:
    failed = failed_job("q")
    queued = enqueue("q")
    by_post = post(client, "job_list", full_token, states=["failed"], ids_only=True)
    assert result(by_post) == [failed.id]
    query = [("states", "failed"), ("states", "queued"), ("ids_only", "true")]
    assert set(result(get(client, "job_list", full_token, query))) == {failed.id, queued.id}
    assert result(post(client, "job_count", full_token, states=["failed", "queued"])) == 2


def test_null_parameters_count_as_absent(client: FlaskClient, full_token: str) -> None:
    job = enqueue()
    response = post(client, "job_list", full_token, queues=None, limit=None, ids_only=True)
    assert result(response) == [job.id]


def test_job_show_gives_the_dictized_job_by_post_and_get(
    client: FlaskClient, full_token: str
) -> None:
    job = enqueue(title="Shown")
    shown = result(post(client, "job_show", full_token, id=job.id))
    assert shown == conveyor.job_show(job.id)
    assert list(shown)[:4] == ["id", "title", "created", "queue"]
    assert result(get(client, "job_show", full_token, {"id": job.id})) == shown


def test_a_job_whose_arguments_hold_nan_is_shown_as_valid_json(
    client: FlaskClient, full_token: str
) -> None:
    job = conveyor.enqueue(conveyor_test_jobs.echo, [float("nan"), [float("-inf")]])
    response = post(client, "job_show", full_token, id=job.id)
    assert b"NaN" not in response.data
    assert b"Infinity" not in response.data
    assert result(response)["args"] == ["nan", ["-inf"]]


@pytest.mark.parametrize("job_id", ["no-such-job", "not/a:job id", "x" * 128])
def test_job_show_of_an_unknown_id_is_404_not_found(
    client: FlaskClient, full_token: str, job_id: str
) -> None:
    found = error(post(client, "job_show", full_token, id=job_id), 404)
    assert found == {
        "__type": "Not Found Error",
        "message": f'Not found: There is no job with ID "{job_id}".',
    }


def test_a_job_of_another_site_is_not_found(client: FlaskClient, full_token: str) -> None:
    with config.override({"conveyor.site_id": "other.site"}):
        theirs = enqueue()
    assert error(post(client, "job_show", full_token, id=theirs.id), 404)["__type"] == (
        "Not Found Error"
    )
    assert error(post(client, "job_cancel", full_token, id=theirs.id), 404)
    with config.override({"conveyor.site_id": "other.site"}):
        assert conveyor.job_show(theirs.id)["state"] == "queued"


@pytest.mark.parametrize("body", [{}, {"id": ""}, {"id": None}])
def test_job_show_without_an_id_is_a_validation_error(
    client: FlaskClient, full_token: str, body: dict[str, Any]
) -> None:
    found = error(post(client, "job_show", full_token, **body), 409)
    assert found == {"id": ["Missing value"], "__type": "Validation Error"}


def test_job_cancel_removes_a_queued_job_and_returns_null(
    client: FlaskClient, full_token: str
) -> None:
    job, kept = enqueue(), enqueue()
    assert result(post(client, "job_cancel", full_token, id=job.id)) is None
    assert conveyor.job_list(ids_only=True) == [kept.id]
    assert error(post(client, "job_cancel", full_token, id=job.id), 404)


def test_job_cancel_of_a_failed_job_is_a_validation_error_naming_the_id(
    client: FlaskClient, full_token: str
) -> None:
    job = failed_job()
    found = error(post(client, "job_cancel", full_token, id=job.id), 409)
    assert found["__type"] == "Validation Error"
    assert list(found) == ["id", "__type"]
    assert "has already failed" in found["id"][0]
    assert conveyor.job_show(job.id)["state"] == "failed"


def test_job_clear_empties_the_given_queues_and_names_them(
    client: FlaskClient, full_token: str
) -> None:
    enqueue("a")
    enqueue("b")
    kept = enqueue("c")
    assert result(post(client, "job_clear", full_token, queues=["a", "b"])) == ["a", "b"]
    assert conveyor.job_list(ids_only=True) == [kept.id]
    assert result(post(client, "job_clear", full_token)) == ["c"]
    assert conveyor.job_list() == []


def test_a_post_without_a_body_means_no_parameters(client: FlaskClient, full_token: str) -> None:
    enqueue("a")
    response = client.post("/api/3/action/job_clear", headers=bearer(full_token))
    assert result(response) == ["a"]


# -- conveyor's own actions -----------------------------------------------------------------
def test_job_requeue_by_id_puts_a_failed_job_back(client: FlaskClient, full_token: str) -> None:
    job = failed_job()
    requeued = result(post(client, "job_requeue", full_token, id=job.id))
    assert requeued["id"] == job.id
    assert requeued["state"] == "queued"
    assert conveyor.job_list(ids_only=True) == [job.id]


def test_job_requeue_all_failed_returns_the_ids_it_moved(
    client: FlaskClient, full_token: str
) -> None:
    first, other = failed_job("a"), failed_job("b")
    response = post(client, "job_requeue", full_token, all_failed=True, queues=["a"])
    assert result(response) == [first.id]
    assert result(post(client, "job_requeue", full_token, all_failed=True)) == [other.id]


def test_job_requeue_of_a_queued_job_is_a_validation_error(
    client: FlaskClient, full_token: str
) -> None:
    job = enqueue()
    found = error(post(client, "job_requeue", full_token, id=job.id), 409)
    assert "only failed or canceled jobs can be requeued" in found["id"][0]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "id", "Missing value"),
        ({"id": "abc", "all_failed": True}, "id", "Give either id or all_failed, not both"),
        ({"id": "abc", "queues": ["a"]}, "queues", "Only used with all_failed"),
    ],
)
def test_job_requeue_needs_either_an_id_or_all_failed(
    client: FlaskClient, full_token: str, body: dict[str, Any], field: str, message: str
) -> None:
    found = error(post(client, "job_requeue", full_token, **body), 409)
    assert found == {field: [message], "__type": "Validation Error"}


def test_queue_list_counts_the_jobs_of_each_queue_by_state(
    client: FlaskClient, read_token: str
) -> None:
    failed_job("a")
    enqueue("a")
    enqueue("b")
    queues = result(get(client, "queue_list", read_token))
    assert queues == conveyor.queue_list()
    assert [(q["name"], q["queued"], q["failed"]) for q in queues] == [("a", 1, 1), ("b", 1, 0)]


def test_worker_list_shows_the_live_workers_of_this_site(
    client: FlaskClient, read_token: str, conveyor_env: conveyor.Config
) -> None:
    now = time.time()
    info = WorkerInfo(
        key="host:42:abc",
        queues=(conveyor_env.queue_prefix + "default",),
        host="host",
        pid=42,
        started_at=now,
        heartbeat_at=now,
    )
    api.backend().register_worker(info, ttl=60, now=now)
    workers = result(post(client, "worker_list", read_token))
    assert workers == conveyor.worker_list()
    assert [(w["key"], w["queues"]) for w in workers] == [("host:42:abc", ["default"])]


def test_help_show_needs_no_token_and_describes_the_action(client: FlaskClient) -> None:
    response = get(client, "job_list", None)
    help_url = response.get_json()["help"]
    described = result(client.get(help_url))
    assert described == ACTIONS["job_list"].description
    found = error(get(client, "help_show", None, {"name": "nope"}), 409)
    assert found["name"][0].startswith("Unknown action 'nope'")


# -- codes and envelopes --------------------------------------------------------------------
@pytest.mark.parametrize("action", WRITE_ACTIONS)
def test_a_get_on_an_action_that_changes_state_is_400_and_changes_nothing(
    client: FlaskClient, full_token: str, action: str
) -> None:
    job = enqueue()
    found = error(get(client, action, full_token, {"id": job.id}), 400)
    assert found == {"__type": "Bad Request Error", "message": POST_ONLY_MESSAGE}
    head = client.head(f"/api/3/action/{action}", headers=bearer(full_token))
    assert head.status_code == 400
    assert conveyor.job_list(ids_only=True) == [job.id]


def test_an_unknown_action_is_400(client: FlaskClient, full_token: str) -> None:
    found = error(post(client, "job_explode", full_token), 400)
    assert found["message"] == "Bad request - Action name not known: 'job_explode'"


@pytest.mark.parametrize("action", READ_ACTIONS + WRITE_ACTIONS)
def test_anonymous_callers_are_refused_with_403(client: FlaskClient, action: str) -> None:
    found = error(post(client, action, None, id="abc"), 403)
    assert found == {
        "__type": "Authorization Error",
        "message": f"Access denied: Action {action} requires an authenticated user",
    }


@pytest.mark.parametrize(
    "send",
    [
        lambda c: post(c, "job_list", None, queues="not a list"),
        lambda c: post(c, "job_clear", None, unknown_option=1),
        lambda c: post(c, "job_show", None),
        lambda c: c.post("/api/3/action/job_clear", data=b"{not json"),
        lambda c: c.post("/api/3/action/job_list", data=b"[1, 2]"),
        lambda c: get(c, "job_list", None, {"limit": "many"}),
    ],
)
def test_authorization_is_checked_before_validation(client: FlaskClient, send: Any) -> None:
    enqueue()
    found = error(send(client), 403)
    assert found["__type"] == "Authorization Error"
    assert len(conveyor.job_list()) == 1


@pytest.mark.parametrize("action", READ_ACTIONS)
def test_a_read_only_token_may_call_the_read_actions(
    client: FlaskClient, read_token: str, action: str
) -> None:
    job = enqueue()
    response = post(client, action, read_token, **({"id": job.id} if action == "job_show" else {}))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("job_cancel", {"id": "JOB"}),
        ("job_clear", {}),
        ("job_requeue", {"all_failed": True}),
    ],
)
def test_a_read_only_token_is_refused_on_actions_that_change_state(
    client: FlaskClient, read_token: str, action: str, body: dict[str, Any]
) -> None:
    failed = failed_job()
    job = enqueue()
    body = {key: job.id if value == "JOB" else value for key, value in body.items()}
    found = error(post(client, action, read_token, **body), 403)
    assert found["message"] == (
        f'Access denied: Token "dashboard" is read-only; action {action} needs a full token'
    )
    assert conveyor.job_list(ids_only=True) == [job.id]
    assert conveyor.job_show(failed.id)["state"] == "failed"


def test_an_unknown_or_revoked_token_is_refused(client: FlaskClient, full_token: str) -> None:
    assert error(post(client, "job_list", "cvt_guessed"), 403)["message"] == (
        "Access denied: The API token is not valid"
    )
    assert error(post(client, "job_list", "x" * 5000), 403)
    assert result(post(client, "job_list", full_token)) == []
    auth.revoke_token("ops")
    assert error(post(client, "job_list", full_token), 403)


def test_a_token_of_another_site_is_refused(client: FlaskClient) -> None:
    with config.override({"conveyor.site_id": "other.site"}):
        _, theirs = auth.create_token("ops")
        assert result(post(client, "job_list", theirs)) == []
    assert error(post(client, "job_list", theirs), 403)["message"] == (
        "Access denied: The API token is not valid"
    )


@pytest.mark.parametrize("header", ["Bearer {}", "bearer   {}", "{}"])
def test_the_token_may_come_with_or_without_the_bearer_scheme(
    client: FlaskClient, full_token: str, header: str
) -> None:
    headers = {"Authorization": header.format(full_token)}
    assert client.post("/api/3/action/job_count", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"queues": "default"}, "queues", "Not a list"),
        ({"queues": [1]}, "queues", "Not a string: 1"),
        ({"queues": [""]}, "queues", "Must not be empty"),
        ({"queues": ["q"] * 101}, "queues", "More than 100 items"),
        ({"queues": ["q" * 201]}, "queues", "Longer than 200 characters"),
        ({"queues": ["tab\there"]}, "queues", "Not a queue name: 'tab\\there'"),
        ({"limit": "many"}, "limit", "Invalid integer"),
        ({"limit": 2.5}, "limit", "Invalid integer"),
        ({"limit": True}, "limit", "Invalid integer"),
        ({"limit": -1}, "limit", "Must be zero or more"),
        ({"limit": 10**30}, "limit", "Must be at most 100000"),
        ({"offset": "1" * 25}, "offset", "Invalid integer"),
        ({"ids_only": "maybe"}, "ids_only", "Not a boolean: 'maybe' (use true or false)"),
        ({"ids_only": 1}, "ids_only", "Not a boolean: 1 (use true or false)"),
        ({"states": ["lost"]}, "states", "Unknown state 'lost' (one of queued, scheduled,"),
        ({"states": "failed"}, "states", "Not a list"),
    ],
)
def test_wrong_values_are_409_naming_the_field(
    client: FlaskClient, full_token: str, body: dict[str, Any], field: str, message: str
) -> None:
    found = error(post(client, "job_list", full_token, **body), 409)
    assert list(found) == [field, "__type"]
    assert found["__type"] == "Validation Error"
    assert found[field][0].startswith(message)


@pytest.mark.parametrize(
    ("body", "message"),
    [({"id": 123}, "Not a string: 123"), ({"id": "x" * 129}, "Longer than 128 characters")],
)
def test_a_malformed_id_is_409_naming_it(
    client: FlaskClient, full_token: str, body: dict[str, Any], message: str
) -> None:
    assert error(post(client, "job_show", full_token, **body), 409)["id"] == [message]


def test_every_wrong_field_is_named_at_once(client: FlaskClient, full_token: str) -> None:
    found = error(post(client, "job_list", full_token, limit="x", queues="y", colour=1), 409)
    assert found == {
        "colour": ["Unknown parameter"],
        "queues": ["Not a list"],
        "limit": ["Invalid integer"],
        "__type": "Validation Error",
    }


def test_unknown_parameters_are_refused_even_when_named_like_the_error_keys(
    client: FlaskClient, full_token: str
) -> None:
    found = error(get(client, "job_list", full_token, {"__type": "x", "limits": "1"}), 409)
    assert found == {
        "__extras": ["Unknown parameter '__type'"],
        "limits": ["Unknown parameter"],
        "__type": "Validation Error",
    }


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{", "Error decoding JSON data: Expecting property name"),
        (b"\n", "Error decoding JSON data: Expecting value"),
        (b"  \t", "Error decoding JSON data: Expecting value"),
        (b'{"limit": NaN}', "Error decoding JSON data: NaN is not a JSON value"),
        (b"[" * 100_000 + b"]" * 100_000, "Error decoding JSON data"),
        (b"\xff\xfe{}", "Error decoding JSON data"),
        (b'{"limit": ' + b"9" * 5000 + b"}", "Error decoding JSON data"),
        (b"[1, 2]", "Request data JSON decoded to [1, 2] but it needs to be a dictionary."),
        (b'"text"', "Request data JSON decoded to 'text' but it needs to be a dictionary."),
    ],
)
def test_a_body_that_is_not_a_json_object_is_400(
    client: FlaskClient, full_token: str, body: bytes, detail: str
) -> None:
    if len(body) > 65536:
        client = create_app(max_body_size=len(body)).test_client()
    response = client.post("/api/3/action/job_list", data=body, headers=bearer(full_token))
    found = error(response, 400)
    assert found["__type"] == "Bad Request Error"
    assert found["message"].startswith(f"Bad request - JSON Error: {detail}")


def test_a_body_over_the_size_limit_is_413(client: FlaskClient, full_token: str) -> None:
    body = json.dumps({"queues": ["q" * 100] * 700}).encode()
    assert len(body) > 64 * 1024
    response = client.post("/api/3/action/job_list", data=body, headers=bearer(full_token))
    found = error(response, 413)
    assert found == {
        "__type": "Request Too Large Error",
        "message": "The request body is larger than 65536 bytes",
    }
    anonymous = client.post("/api/3/action/job_list", data=body)
    assert error(anonymous, 413)


def test_a_body_without_a_length_is_still_cut_at_the_limit(full_token: str) -> None:
    small = create_app(max_body_size=100)
    body = json.dumps({"queues": ["q" * 50] * 10}).encode()
    environ = EnvironBuilder(
        "/api/3/action/job_list", method="POST", data=body, headers=bearer(full_token)
    ).get_environ()
    del environ["CONTENT_LENGTH"]  # as a server passes a chunked body on
    environ["wsgi.input_terminated"] = True
    chunks, status, _ = run_wsgi_app(small, environ, buffered=True)
    assert status.startswith("413")
    assert json.loads(b"".join(chunks))["error"]["message"] == (
        "The request body is larger than 100 bytes"
    )


def test_a_query_string_over_the_size_limit_is_414(client: FlaskClient, full_token: str) -> None:
    query = [("queues", "q" * 100)] * 700
    found = error(get(client, "job_list", full_token, query), 414)
    assert found["message"] == "The query string is larger than 65536 bytes"


def test_other_urls_and_methods_answer_json_too(client: FlaskClient) -> None:
    missing = error(client.get("/api/3/nothing-here"), 404)
    assert missing == {"__type": "Not Found Error", "message": "Not found"}
    put = client.put("/api/3/action/job_list")
    assert error(put, 405)["__type"] == "Method Not Allowed Error"
    assert "POST" in put.headers["Allow"]


@pytest.mark.parametrize(
    ("action", "allow"),
    [("job_list", "GET, HEAD, POST, OPTIONS"), ("job_cancel", "POST, OPTIONS")],
)
def test_options_names_the_methods_an_action_answers(
    client: FlaskClient, action: str, allow: str
) -> None:
    response = client.options(f"/api/3/action/{action}")
    assert response.status_code == 204
    assert response.headers["Allow"] == allow
    assert error(client.options("/api/3/action/job_explode"), 400)


def test_an_unreachable_job_store_is_503(tmp_path: Path, client: FlaskClient) -> None:
    (tmp_path / "a-file").write_text("")
    broken = {"conveyor.backend": f"sqlite:///{tmp_path}/a-file/jobs.sqlite3"}
    with config.override(broken):
        found = error(post(client, "job_list", "cvt_any"), 503)
    assert found == {
        "__type": "Service Unavailable Error",
        "message": "The job store is unavailable",
    }


# -- tokens ---------------------------------------------------------------------------------
def test_only_a_hash_of_the_token_is_stored(conveyor_env: conveyor.Config) -> None:
    record, secret = auth.create_token("ci")
    assert secret.startswith("cvt_")
    assert len(secret) > 40
    database = conveyor_env.backend.removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT * FROM conveyor_tokens").fetchall()
    assert len(rows) == 1
    assert secret not in repr(rows)
    assert record.hash == hashlib.sha256(secret.encode()).hexdigest()
    assert record.hash in rows[0]


def test_no_token_appears_in_any_log_line(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, full = auth.create_token("ops")
    _, reader = auth.create_token("reader", read_only=True)
    job = enqueue()
    post(client, "job_list", full)
    post(client, "job_show", full, id=full)  # the token as a value, too
    post(client, "job_cancel", reader, id=job.id)
    post(client, "job_cancel", full, id=job.id)
    post(client, "job_list", full + "x")
    get(client, "job_list", full, {"queues": full})
    post(client, "job_list", full, limit=full)
    assert caplog.records, "the calls should have logged something"
    for record in caplog.records:
        logged = record.getMessage() + repr(record.__dict__)
        assert full not in logged
        assert reader not in logged
    assert any('job_cancel by token "ops"' in r.getMessage() for r in caplog.records)


def test_the_token_commands_create_list_and_revoke(client: FlaskClient, cli: Any) -> None:
    created = cli("token", "create", "--name", "ci", "--read-only")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith("cvt_")
    assert 'Created read-only token "ci". It is shown only once' in created.stderr
    assert result(post(client, "job_count", secret)) == 0
    assert error(post(client, "job_clear", secret), 403)

    assert cli("token", "create", "--name", "ops").exit_code == 0
    listed = cli("token", "list")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [["ci", "read-only"], ["ops", "full"]]
    assert secret not in listed.output

    revoked = cli("token", "revoke", "ci")
    assert revoked.exit_code == 0
    assert revoked.stdout == 'Revoked token "ci"\n'
    assert error(post(client, "job_count", secret), 403)
    assert cli("token", "list").stdout.split()[0] == "ops"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["token", "revoke", "nobody"], 'There is no API token named "nobody"'),
        (["token", "create", "--name", "ops"], 'There is an API token named "ops" already'),
        (["token", "create", "--name", "two words"], "name: A token name is 1-64 letters"),
    ],
)
def test_the_token_commands_report_mistakes_and_exit_1(
    cli: Any, args: list[str], message: str
) -> None:
    auth.create_token("ops")
    outcome = cli(*args)
    assert outcome.exit_code == 1
    assert message in outcome.stderr
    assert [token.name for token in auth.list_tokens()] == ["ops"]


def test_token_list_without_tokens_says_so(cli: Any) -> None:
    conveyor.api.backend()  # the store exists (with no token in it)
    listed = cli("token", "list")
    assert listed.stdout == "There are no API tokens.\n"


# -- OpenAPI and mounting -------------------------------------------------------------------
def test_the_openapi_document_is_generated_from_the_action_parameters(
    client: FlaskClient,
) -> None:
    document = result_of_openapi(client)
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert set(paths) == {f"/api/3/action/{name}" for name in ACTIONS}
    for name, action in ACTIONS.items():
        operations = paths[f"/api/3/action/{name}"]
        assert set(operations) == ({"post"} if action.changes_state else {"get", "post"})
        body = operations["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert list(body["properties"]) == [param.name for param in action.params]
        assert body["additionalProperties"] is False
        if "get" in operations:
            names = [p["name"] for p in operations["get"]["parameters"]]
            assert names == [param.name for param in action.params]
        assert ("403" in operations["post"]["responses"]) is not action.public
    limit = paths["/api/3/action/job_list"]["get"]["parameters"][1]
    assert limit["schema"] == {"type": "integer", "minimum": 0, "maximum": 100000}


def result_of_openapi(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/3/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


@pytest.fixture
def host_app() -> Flask:
    host = Flask("host")

    @host.route("/")
    def home() -> str:
        return "the host's own page"

    host.register_blueprint(create_blueprint(), url_prefix="/jobs/api/3")
    return host


def test_the_blueprint_mounts_in_an_existing_app_under_another_prefix(
    host_app: Flask, full_token: str
) -> None:
    client = host_app.test_client()
    job = enqueue()
    response = client.post(
        "/jobs/api/3/action/job_list", json={"ids_only": True}, headers=bearer(full_token)
    )
    assert result(response) == [job.id]
    assert response.get_json()["help"].startswith("http://localhost/jobs/api/3/action/help_show")
    document = client.get("/jobs/api/3/openapi.json").get_json()
    assert "/jobs/api/3/action/job_cancel" in document["paths"]
    assert client.get("/").data == b"the host's own page"
    assert error(client.get("/jobs/api/3/action/job_list"), 403)
