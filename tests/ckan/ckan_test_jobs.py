"""Job functions for the CKAN tests (importable by worker children: tests/ckan is on the path)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import rq
import rq.timeouts


def write(path: str, text: str) -> None:
    """Write ``text`` to ``path``: proof the job ran, with its arguments."""
    Path(path).write_text(text)


def describe_current_job(path: str) -> None:
    """Record what ``rq.get_current_job()`` says about the running job, and save meta."""
    job = rq.get_current_job()
    job.meta["seen"] = "by the job"
    job.save_meta()
    Path(path).write_text(
        json.dumps(
            {
                "is_rq_job": isinstance(job, rq.job.Job),
                "id": job.id,
                "origin": job.origin,
                "description": job.description,
                "title": job.meta.get("title"),
            }
        )
    )


def overrun_catching_rq_timeout(path: str) -> None:
    """Run past the timeout; RQ's exception name must catch conveyor's timeout."""
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.05)
    except rq.timeouts.JobTimeoutException as exc:
        Path(path).write_text(f"caught {type(exc).__name__}")
        raise


def record_process(path: str) -> None:
    """Append this process's pid, the site id from CKAN's config and the user count."""
    import os

    from ckan.plugins import toolkit

    from ckan import model

    users = model.Session.query(model.User).count()
    with Path(path).open("a") as handle:
        handle.write(f"{os.getpid()} {toolkit.config['ckan.site_id']} {users}\n")
