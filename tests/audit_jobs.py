"""Job functions for the audit's tests (tests/test_audit_*.py)."""

from __future__ import annotations

from typing import Any

import conveyor


def read_own_meta() -> Any:
    """What the running job reads with RQ's ``get_meta()``, after saving a key of its own."""
    job = conveyor.get_current_job()
    assert job is not None
    job.meta["seen"] = job.get_meta().get("given")
    job.save_meta()
    return job.get_meta()
