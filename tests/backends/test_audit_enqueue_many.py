"""enqueue_many() names a batch item that is not a mapping (found by the audit), per store.

An item such as a bare function (``enqueue_many([f])``) raised
``TypeError: 'function' object is not iterable`` from inside conveyor.
"""

from __future__ import annotations

import pytest

import conveyor
import conveyor_test_jobs as jobs_module
from conveyor.exceptions import InvalidJobError

SITE_ID = "test.conveyor"


@pytest.fixture
def store(store_kind: str, store_kind_url: str) -> str:
    """conveyor configured on each store in turn."""
    conveyor.configure(settings={"conveyor.backend": store_kind_url, "conveyor.site_id": SITE_ID})
    return store_kind


@pytest.mark.parametrize(
    ("item", "shown"),
    [
        (jobs_module.add, "a function"),
        ([jobs_module.add, [1, 2]], "a list"),
        ("conveyor_test_jobs:add", "a str"),
        (None, "a NoneType"),
    ],
)
def test_an_item_that_is_not_a_mapping_is_refused_by_its_place(
    store: str, item: object, shown: str
) -> None:
    good = {"fn": jobs_module.add, "args": [1, 2]}
    with pytest.raises(InvalidJobError) as raised:
        conveyor.enqueue_many([good, item])  # type: ignore[list-item]
    assert str(raised.value) == (
        f"Job 1 of enqueue_many() is {shown}, not a mapping of enqueue()'s arguments"
        " ({'fn': ..., 'args': [...], ...}); nothing was enqueued"
    )
    assert conveyor.job_count(states=["queued", "scheduled"]) == 0
