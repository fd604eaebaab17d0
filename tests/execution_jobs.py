"""Job functions for the tests of how a job runs (importable by workers' children)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import conveyor
from conveyor import JobTimeoutException, get_current_job, set_progress

#: Longest a job waits for a test's go-ahead, so a failed test never leaves it behind.
GO_WAIT = 30.0


def note(path: str, text: str) -> None:
    """Append a line to a file: what the job did, in order."""
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write(f"{text}\n")


def wait_for_file(path: str) -> None:
    deadline = time.monotonic() + GO_WAIT
    while not Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.02)


async def async_note(path: str, text: str) -> str:
    """An async job with a side effect after an await."""
    await asyncio.sleep(0.01)
    note(path, text)
    current = get_current_job()
    knows = current is not None and current.func_name == "execution_jobs:async_note"
    return f"{text}, knowing itself" if knows else f"{text}, without a current job"


def returns_coroutine(path: str) -> Coroutine[Any, Any, str]:
    """A plain function that returns a coroutine it never awaits (a bug to report)."""
    return async_note(path, "never")


def raises_value_error() -> None:
    raise ValueError("bad value in the job")


def exits(code: int) -> None:
    raise SystemExit(code)


def returns_unstorable() -> object:
    return object()


def describe_self(path: str) -> dict[str, Any]:
    """Write what get_current_job() says about this job to ``path``, and return it."""
    job = get_current_job()
    assert job is not None, "get_current_job() returned None inside a job"
    seen = {
        "id": job.id,
        "queue": job.queue,
        "origin": job.origin,
        "attempts": job.attempts,
        "description": job.description,
        "title": job.title,
        "meta": job.meta,
        "func_name": job.func_name,
        "args": job.args,
        "state": job.state.value,
        "pid": os.getpid(),
    }
    Path(path).write_text(json.dumps(seen), encoding="utf-8")
    return seen


def report_progress(path: str) -> str:
    """Save meta and progress, tell the test, and wait until it has looked."""
    job = get_current_job()
    assert job is not None
    job.meta["rows"] = 3
    job.save_meta()
    assert set_progress(0.5, "half way")
    note(path, "saved")
    wait_for_file(path + ".go")
    set_progress(1.0)
    return "reported"


def xloader_like(path: str) -> str:
    """As ckanext-xloader does: learn its id, catch the timeout, record it, clean up."""
    job_id = get_current_job().id  # type: ignore[union-attr]
    note(path, f"started {job_id}")
    errored = False
    try:
        while True:
            time.sleep(0.05)
    except JobTimeoutException as exc:
        errored = True
        note(path, f"caught {type(exc).__name__}: {exc}")
        job = get_current_job()
        assert job is not None
        job.meta["timed_out"] = True
        job.save_meta()
    finally:
        note(path, f"finally errored={errored}")
    return "error" if errored else "done"


def swallows_timeout(path: str) -> None:
    """Catch the timeout and keep running, so only the kill can stop it."""
    note(path, f"pid {os.getpid()}")
    while True:
        try:
            while True:
                time.sleep(0.05)
        except JobTimeoutException:
            note(path, "swallowed")


async def async_until_cancelled(path: str) -> None:
    """An async job that waits; at its timeout it is cancelled, and its finally runs."""
    try:
        await asyncio.sleep(GO_WAIT)
    except asyncio.CancelledError:
        note(path, "cancelled")
        raise
    finally:
        note(path, "finally")


def blocked_in_c_without_alarm(path: str, seconds: int) -> None:
    """Block SIGALRM, then sleep in C: out of reach of the timeout's exception."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    note(path, str(os.getpid()))
    import ctypes

    ctypes.CDLL(None).sleep(seconds)


def enqueue_and_report(path: str) -> None:
    """A job that enqueues another: both know themselves (run_synchronously nests them)."""
    outer = get_current_job()
    conveyor.enqueue(describe_self, [path])
    assert get_current_job() is outer


def sleeps_until_timeout(path: str) -> str:
    """Sleep; note the timeout's exception, then return normally (swallowing it)."""
    try:
        time.sleep(GO_WAIT)
    except JobTimeoutException as exc:
        note(path, str(exc))
    return "returned after its timeout"
