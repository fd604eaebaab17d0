"""Boolean words in the web API are read in any case, as CKAN's ``boolean_validator`` reads them.

``requests.get(url, params={"ids_only": True})`` sends ``ids_only=True``: conveyor
refused it with 409 while CKAN reads it as true (found by the audit). Words that
are not booleans are still refused.
"""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

import conveyor
import conveyor_test_jobs as jobs_module
from conveyor.web import auth, create_app

SITE_ID = "test.conveyor"


@pytest.fixture
def store(store_kind: str, store_kind_url: str) -> str:
    """conveyor configured on each store in turn."""
    conveyor.configure(settings={"conveyor.backend": store_kind_url, "conveyor.site_id": SITE_ID})
    return store_kind


@pytest.fixture
def client(store: str) -> FlaskClient:
    return create_app().test_client()


@pytest.fixture
def headers(store: str) -> dict[str, str]:
    return {"Authorization": auth.create_token("reader", read_only=True)[1]}


@pytest.mark.parametrize("word", ["True", "TRUE", "Yes", "Y", "T", "tRuE"])
def test_true_in_any_case_lists_ids(
    client: FlaskClient, headers: dict[str, str], word: str
) -> None:
    job = conveyor.enqueue(jobs_module.add, [1, 2])
    by_get = client.get(f"/api/3/action/job_list?ids_only={word}", headers=headers)
    by_json = client.post("/api/3/action/job_list", json={"ids_only": word}, headers=headers)
    for response in (by_get, by_json):
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["result"] == [job.id]


@pytest.mark.parametrize("word", ["False", "NO", "N", "F"])
def test_false_in_any_case_lists_jobs(
    client: FlaskClient, headers: dict[str, str], word: str
) -> None:
    job = conveyor.enqueue(jobs_module.add, [1, 2])
    response = client.get(f"/api/3/action/job_list?ids_only={word}", headers=headers)
    assert response.status_code == 200, response.get_json()
    assert [found["id"] for found in response.get_json()["result"]] == [job.id]


@pytest.mark.parametrize("word", ["maybe", "Truth", "2", ""])
def test_other_words_are_still_refused(
    client: FlaskClient, headers: dict[str, str], word: str
) -> None:
    response = client.get(f"/api/3/action/job_list?ids_only={word}", headers=headers)
    assert response.status_code == 409
    assert response.get_json()["error"]["ids_only"] == [
        f"Not a boolean: {word!r} (use true or false)"
    ]


def test_the_openapi_schema_admits_the_words_in_any_case(client: FlaskClient) -> None:
    document = client.get("/api/3/openapi.json").get_json()
    job_list = next(ops for path, ops in document["paths"].items() if path.endswith("/job_list"))
    query = next(p for p in job_list["get"]["parameters"] if p["name"] == "ids_only")
    (pattern,) = [choice["pattern"] for choice in query["schema"]["anyOf"] if "pattern" in choice]
    for word in ("true", "True", "YES", "n", "0"):
        assert re.fullmatch(pattern, word), word
    for word in ("maybe", "2", "truee"):
        assert not re.fullmatch(pattern, word), word
