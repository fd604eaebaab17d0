"""``conveyor.set_progress`` checks its input outside a job too (found by the audit).

Outside a job it returned False for any input, so a helper that reports progress
with a bad fraction passed its unit tests and failed only in a worker.
"""

from __future__ import annotations

import math

import pytest

import conveyor
from conveyor.exceptions import ValidationError


@pytest.mark.parametrize(
    ("fraction", "message", "field", "problem"),
    [
        (1.5, None, "progress", "must be a number from 0 to 1, not 1.5"),
        (-0.1, None, "progress", "must be a number from 0 to 1, not -0.1"),
        (math.nan, None, "progress", "must be a number from 0 to 1, not nan"),
        (True, None, "progress", "must be a number from 0 to 1, not True"),
        ("0.5", None, "progress", "must be a number from 0 to 1, not '0.5'"),
        (0.5, 3, "message", "must be a string or None, not 3"),
    ],
)
def test_bad_progress_is_refused_outside_a_job_as_inside(
    fraction: object, message: object, field: str, problem: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        conveyor.set_progress(fraction, message)  # type: ignore[arg-type]
    assert raised.value.errors == {field: [problem]}


def test_good_progress_outside_a_job_is_false() -> None:
    assert conveyor.set_progress(0.5, "half") is False
    assert conveyor.set_progress(1) is False
