"""A bad queue name gets the same message from Python, the CLI and the web API (audit).

The web API said ``Must not be empty`` or ``Longer than 200 characters`` where
``job_list()`` and ``conveyor jobs list`` said only ``Not a queue name: ...``.
"""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

import conveyor
import conveyor_test_jobs as jobs_module
from conveyor.cli import main
from conveyor.exceptions import ValidationError
from conveyor.web import auth, create_app

BAD_NAMES: list[tuple[Any, str]] = [
    (1, "Not a string: 1"),
    ("", "Must not be empty"),
    ("q" * 201, "Longer than 200 characters"),
    ("tab\there", "Not a queue name: 'tab\\there'"),
    ("   ", "Not a queue name: '   '"),
]


@pytest.mark.parametrize(("name", "message"), BAD_NAMES)
@pytest.mark.parametrize("action", ["job_list", "job_clear", "job_count"])
def test_python_and_web_give_one_message(name: Any, message: str, action: str) -> None:
    job = conveyor.enqueue(jobs_module.add, [1, 2])
    with pytest.raises(ValidationError) as raised:
        getattr(conveyor, action)([name])
    assert raised.value.errors == {"queues": [message]}
    token = auth.create_token("ops")[1]
    response = (
        create_app()
        .test_client()
        .post(f"/api/3/action/{action}", json={"queues": [name]}, headers={"Authorization": token})
    )
    assert response.status_code == 409
    assert response.get_json()["error"]["queues"] == [message]
    assert conveyor.job_list(ids_only=True) == [job.id]  # nothing changed


@pytest.mark.parametrize(
    ("name", "message"), [pair for pair in BAD_NAMES if isinstance(pair[0], str)]
)
def test_the_cli_gives_the_same_message(
    conveyor_env: conveyor.Config, name: str, message: str
) -> None:
    conveyor.enqueue(jobs_module.add, [1, 2])
    env = {"CONVEYOR_BACKEND": conveyor_env.backend, "CONVEYOR_SITE_ID": conveyor_env.site_id}
    for command in ("list", "clear"):
        result = CliRunner().invoke(main, ["jobs", command, name], env=env)
        assert result.exit_code == 1
        assert result.stderr.splitlines()[0] == f"queues: {message}"
    assert conveyor.job_count() == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "Missing value") if name == "" else (name, message) for name, message in BAD_NAMES],
)
@pytest.mark.parametrize("action", ["queue_pause", "queue_resume"])
def test_pausing_gives_the_web_apis_message_too(name: Any, message: str, action: str) -> None:
    with pytest.raises(ValidationError) as raised:
        getattr(conveyor, action)(name)
    assert raised.value.errors == {"queue": [message]}
    token = auth.create_token("ops")[1]
    response = (
        create_app()
        .test_client()
        .post(f"/api/3/action/{action}", json={"queue": name}, headers={"Authorization": token})
    )
    assert response.status_code == 409
    assert response.get_json()["error"]["queue"] == [message]
    assert conveyor.paused_queues() == []
