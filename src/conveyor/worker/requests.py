"""The supervisor's answers to what a running job asks: its record, and saving its meta.

A job asks through its child's pipe (``conveyor.worker.child.Request``).
Meta is saved with the job's lease token, so a job that was canceled or
taken over cannot write; the child never opens a backend connection of its
own for it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from conveyor.backends import Backend
from conveyor.exceptions import BackendError
from conveyor.worker.child import REPLY, Request, send
from conveyor.worker.pool import Child


def answer(child: Child, request: Request, backend: Backend) -> None:
    """Answer ``child``'s running job; a backend error is answered, then raised."""
    running = child.running
    if running is None or running.record.id != request.job_id:
        send(child.conn, (REPLY, False, f"Job {request.job_id} is not running on this child"))
        return
    if request.kind == "record":
        # The start time is the child's, not the claim's (a job may wait in the pipe).
        record = dataclasses.replace(running.record, started_at=running.started_at)
        send(child.conn, (REPLY, True, record))
        return
    if request.kind != "meta":
        send(child.conn, (REPLY, False, f"Unknown request {request.kind!r}"))
        return
    meta: dict[str, Any] = request.value
    try:
        saved = backend.save_meta(request.job_id, meta, token=running.token)
    except BackendError as exc:
        send(child.conn, (REPLY, False, f"Meta of job {request.job_id} not saved: {exc}"))
        raise
    if saved:
        running.record = dataclasses.replace(running.record, meta=meta)
    send(child.conn, (REPLY, True, saved))
