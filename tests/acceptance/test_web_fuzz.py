"""schemathesis against the OpenAPI document: no 5xx, and every answer matches the document.

The requests go through the WSGI application (no server), anonymous and
with a full token, a bounded number of examples per operation (read-only
tokens are refused or served exactly as in tests/acceptance/test_web.py). The document
is read from the application itself, so what is fuzzed is what is served.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

import conveyor
import conveyor_test_jobs
from conveyor.web import auth, create_app

# Serving the document needs no configuration; each test's calls use its own database.
schema = schemathesis.openapi.from_wsgi("/api/3/openapi.json", create_app())

#: Checks of HTTP habits the reference's API answers otherwise, on purpose: an
#: anonymous caller gets 403 (schemathesis wants 401), and a GET on an action
#: that changes state gets 400 with the reference's message (it wants 405).
REFERENCE_BEHAVIOUR = [
    schemathesis.checks.missing_required_header,
    schemathesis.checks.unsupported_method,
]

#: The token of the test running now (None: anonymous).
caller_token: dict[str, str | None] = {"token": None}


@schema.auth(refresh_interval=None)
class CurrentCaller:
    """Hands the running test's token to schemathesis, which then knows the
    credentials are supplied and leaves them out only when it means to."""

    def get(self, case: schemathesis.Case, context: Any) -> str | None:
        return caller_token["token"]

    def set(self, case: schemathesis.Case, data: str | None, context: Any) -> None:
        if data is not None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(autouse=True)
def jobs() -> None:
    for queue in ("default", "default", "other"):
        conveyor.enqueue(conveyor_test_jobs.succeed, queue=queue, title="fuzzed")


@pytest.fixture
def token(caller: str) -> Iterator[None]:
    """The caller's token, made once per test (not per example)."""
    if caller != "anonymous":
        _, caller_token["token"] = auth.create_token(caller)
    yield
    caller_token["token"] = None


@schema.parametrize()
@pytest.mark.parametrize("caller", ["anonymous", "full"])
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_answers_as_its_document_says(
    case: schemathesis.Case, token: None
) -> None:
    case.call_and_validate(excluded_checks=REFERENCE_BEHAVIOUR)
