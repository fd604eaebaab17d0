"""`conveyor serve` as a real process: waitress on a loopback port, called over HTTP."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import conveyor
import conveyor_test_jobs
from conveyor.web import auth
from support import CONVEYOR, free_port, serving


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def call(
        self, action: str, token: str | None = None, body: Any = None, query: str = ""
    ) -> tuple[int, dict[str, Any], http.client.HTTPMessage]:
        """The status, decoded envelope and headers of one call (POST when there is a body)."""
        url = f"{self.base}/api/3/action/{action}{query}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
        request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response), response.headers
        except urllib.error.HTTPError as refused:
            with refused:
                return refused.code, json.load(refused), refused.headers


@pytest.fixture
def server(subprocess_env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    log = tmp_path / "serve.log"
    with serving(subprocess_env, log, threads=2, ready_path="/api/3/openapi.json") as (
        process,
        base,
    ):
        yield Server(process, base, log)


def test_serve_answers_the_action_api_under_waitress(server: Server) -> None:
    _, token = auth.create_token("ops")
    first = conveyor.enqueue(conveyor_test_jobs.succeed, queue="a")
    second = conveyor.enqueue(conveyor_test_jobs.succeed, queue="b")
    status, body, headers = server.call("job_list", token, {"ids_only": True})
    assert (status, body["success"], body["result"]) == (200, True, [first.id, second.id])
    assert headers["Server"] == "waitress"
    assert headers.get_content_type() == "application/json"
    assert body["help"] == f"{server.base}/api/3/action/help_show?name=job_list"

    status, body, _ = server.call("job_list", token, query="?queues=b&queues=a&ids_only=true")
    assert (status, body["result"]) == (200, [second.id, first.id])

    status, body, _ = server.call("job_cancel", token, {"id": first.id})
    assert (status, body["result"]) == (200, None)
    assert conveyor.job_list(ids_only=True) == [second.id]


def test_serve_refuses_anonymous_callers_and_gets_on_actions_that_change_state(
    server: Server,
) -> None:
    _, reader = auth.create_token("dashboard", read_only=True)
    status, body, _ = server.call("job_list", None, {"queues": "not even a list"})
    assert (status, body["error"]["__type"]) == (403, "Authorization Error")
    status, body, _ = server.call("job_clear", reader, {})
    assert status == 403
    assert body["error"]["message"].startswith('Access denied: Token "dashboard" is read-only')
    status, body, _ = server.call("job_clear", reader, query="?queues=a")
    assert status == 400
    assert body["error"]["message"].endswith("Please use POST method for your request")


def test_serve_limits_the_body_and_serves_the_openapi_document(server: Server) -> None:
    _, token = auth.create_token("ops")
    status, body, _ = server.call("job_list", token, {"queues": ["q" * 100] * 700})
    assert (status, body["error"]["__type"]) == (413, "Request Too Large Error")
    with urllib.request.urlopen(f"{server.base}/api/3/openapi.json", timeout=10) as response:
        document = json.load(response)
    assert "/api/3/action/job_requeue" in document["paths"]


def test_serve_takes_a_chunked_body(server: Server) -> None:
    _, token = auth.create_token("ops")
    job = conveyor.enqueue(conveyor_test_jobs.succeed)
    host, port = server.base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        body = iter([b'{"ids_only":', b" true}"])
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        connection.request("POST", "/api/3/action/job_list", body, headers, encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 200
        assert json.load(response)["result"] == [job.id]
    finally:
        connection.close()


def test_serve_stops_on_sigterm_and_never_logs_a_token(server: Server) -> None:
    _, token = auth.create_token("ops")
    server.call("job_list", token, {})
    server.call("job_show", token, {"id": token})
    server.call("job_list", token + "wrong", {})
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=20) == 0
    log = server.log.read_text()
    assert "Serving the conveyor web API on http://127.0.0.1:" in log
    assert "Stopped serving the web API" in log
    assert token not in log


def test_serve_with_an_unusable_job_store_exits_1_with_the_reason(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("")
    env = {**subprocess_env, "CONVEYOR_BACKEND": f"sqlite:///{tmp_path}/a-file/jobs.sqlite3"}
    outcome = subprocess.run(
        [CONVEYOR, "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert outcome.returncode == 1
    assert "Cannot open SQLite database" in outcome.stderr
