"""Worker-only job options: declared once in the API, carried by every store untouched.

No such option ships yet, so these tests declare one ("grace", seconds) the
way a feature would, and follow it from enqueue() to the record a worker
claims. The stores' part is in the conformance suite (options round-trip on
every backend); this is the API's.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import conveyor
import conveyor_test_jobs
from conveyor import api
from conveyor.exceptions import InvalidJobError


def check_grace(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidJobError(f"grace must be whole seconds, 0 or more, not {value!r}")
    return value


@pytest.fixture
def grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker-only option, declared as a feature would declare it."""
    monkeypatch.setitem(api._WORKER_OPTIONS, "grace", check_grace)


def claim(job_id: str) -> Any:
    queue = conveyor.config.current().queue_prefix + "default"
    [record] = api.backend().claim([queue], worker="w", lease=30, now=time.time())
    assert record.id == job_id
    return record


@pytest.mark.usefixtures("grace")
def test_a_worker_option_reaches_the_claimed_record_in_its_options() -> None:
    job = conveyor.enqueue(conveyor_test_jobs.succeed, grace=15, timeout=60)
    assert claim(job.id).options == {"grace": 15}
    assert claim_none()


@pytest.mark.usefixtures("grace")
def test_a_job_without_worker_options_has_none() -> None:
    job = conveyor.enqueue(conveyor_test_jobs.succeed, grace=None)
    assert claim(job.id).options == {}


@pytest.mark.usefixtures("grace")
def test_a_bad_worker_option_is_refused_and_nothing_is_stored() -> None:
    with pytest.raises(InvalidJobError, match="grace must be whole seconds, 0 or more, not -1"):
        conveyor.enqueue(conveyor_test_jobs.succeed, grace=-1)
    assert conveyor.job_count() == 0


def test_an_undeclared_option_is_still_refused() -> None:
    with pytest.raises(InvalidJobError, match="Unknown enqueue option"):
        conveyor.enqueue(conveyor_test_jobs.succeed, grace=15)
    assert conveyor.job_count() == 0


def claim_none() -> bool:
    queue = conveyor.config.current().queue_prefix + "default"
    return api.backend().claim([queue], worker="w", lease=30, now=time.time()) == []
