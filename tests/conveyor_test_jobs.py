"""Importable job functions for the tests (a worker must be able to import them)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def succeed(*args: object, **kwargs: object) -> None:
    """Do nothing."""


def echo(value: object) -> object:
    """Return the argument, so the result can be checked."""
    return value


def add(a: int, b: int) -> int:
    return a + b


def failing_job() -> None:
    raise RuntimeError("JOB FAILURE")


def sleep_for(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def touch(path: str, text: str = "") -> None:
    """Append a line to a file: lets a test see that (and how often) a job ran."""
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write(f"{text or os.getpid()}\n")


def touch_then_sleep(path: str, seconds: float) -> None:
    """Mark the job as started, then take a while."""
    touch(path, "started")
    time.sleep(seconds)
    touch(path, "done")


def kill_self() -> None:
    """Die as a crash would (SIGKILL)."""
    os.kill(os.getpid(), signal.SIGKILL)


def exit_interpreter(code: int = 3) -> None:
    sys.exit(code)


def hard_exit(code: int = 7) -> None:
    """Leave the process without any Python cleanup."""
    os._exit(code)


def return_unserializable() -> object:
    return {1, 2, 3}


def pid() -> int:
    return os.getpid()


class Maker:
    @classmethod
    def build(cls, value: int) -> int:
        return value * 2

    def method(self) -> None:
        """A bound method of an instance cannot be a job."""


# -- for tests/worker/test_worker.py and tests/worker/test_worker_process.py ----------------------
def meet(mine: str, other: str, timeout: float = 20.0) -> int:
    """Leave a mark, then wait for the other job's: both must be running at once."""
    Path(mine).touch()
    deadline = time.monotonic() + timeout
    while not Path(other).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{other} did not appear within {timeout}s")
        time.sleep(0.01)
    return os.getpid()


def sleep_on_first_run(path: str, seconds: float) -> None:
    """Write the pid, then take a while, but only the first time (a rerun is quick)."""
    first = not Path(path).exists()
    touch(path)
    if first:
        time.sleep(seconds)
    touch(path, "done")


def record_init() -> None:
    """A worker init hook: a line with the pid in ``init.txt`` in the working directory."""
    touch("init.txt")


def record_before_fork() -> None:
    """A before_fork hook: a line with the pid in ``before_fork.txt`` in the working directory."""
    touch("before_fork.txt")


def touch_then_wait(path: str, release: str, timeout: float = 30.0) -> None:
    """Write "started", wait until the test creates ``release``, then write "done"."""
    touch(path, "started")
    deadline = time.monotonic() + timeout
    while not Path(release).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{release} did not appear within {timeout}s")
        time.sleep(0.01)
    touch(path, "done")


# -- for worker/test_reliability.py, worker/test_retry_in_a_worker.py, acceptance/test_registry.py
def wait_on_first_run(path: str, release: str, timeout: float = 30.0) -> None:
    """Write the pid; the first run then waits for ``release``, a rerun does not. "done" last."""
    first = not Path(path).exists()
    touch(path)
    deadline = time.monotonic() + timeout
    while first and not Path(release).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{release} did not appear within {timeout}s")
        time.sleep(0.01)
    touch(path, "done")


def touch_then_kill_self(path: str) -> None:
    """A poison job: write the pid, then die as a crash would, every time."""
    touch(path)
    os.kill(os.getpid(), signal.SIGKILL)


def sleep_in_c(path: str, seconds: int) -> None:
    """Write the pid, then block in C code (libc's sleep), out of Python's reach."""
    import ctypes

    touch(path)
    ctypes.CDLL(None).sleep(seconds)


def fail_times(path: str, times: int) -> int:
    """Raise on the first ``times`` runs (counted by lines in ``path``), then return the run."""
    done = len(Path(path).read_text(encoding="utf-8").splitlines()) if Path(path).exists() else 0
    touch(path)
    if done < times:
        raise RuntimeError(f"failure {done + 1} of {times}")
    return done + 1


# -- for tests/backends/test_redis_backend.py -----------------------------------------------------
def record_run(directory: str, number: int, seconds: float = 0.0) -> None:
    """Note that job ``number`` ran (one file per run), after ``seconds``."""
    time.sleep(seconds)
    Path(directory, f"{number}-{os.getpid()}-{time.monotonic_ns()}").touch()


# -- for tests/unit/test_testing_helpers.py -------------------------------------------------------
def enqueue_echo(value: object, queue: str = "default") -> str:
    """A job that enqueues another job (``echo(value)``); the new job's id."""
    import conveyor

    return conveyor.enqueue(echo, [value], queue=queue).id


def type_names(*args: object, **kwargs: object) -> list[str]:
    """The type of each argument as the job received it, positional then keyword (by name)."""
    return [type(v).__name__ for v in args] + [type(kwargs[k]).__name__ for k in sorted(kwargs)]


def raise_error(message: str) -> None:
    """Fail with ``message`` as the error text (which may hold anything)."""
    raise RuntimeError(message)


def type_names_with_zone(*args: object, **kwargs: object) -> tuple[str, ...]:
    """type_names(), a datetime's zone key added to its name; as a tuple (tagged back)."""
    names = []
    for value in [*args, *(kwargs[k] for k in sorted(kwargs))]:
        zone = getattr(getattr(value, "tzinfo", None), "key", None)
        names.append(f"{type(value).__name__} {zone}" if zone else type(value).__name__)
    return tuple(names)


# -- for tests/acceptance/test_ckan_patterns.py: functions shaped as CKAN extensions' jobs --------
def push_to_datastore(data: dict[str, object]) -> str:
    """datapusher-plus's job: named so that its RQ-style description names it."""
    return f"pushed {data['resource_id']}"


def xloader_data_into_datastore(input: dict[str, object]) -> str:
    """ckanext-xloader's job, as far as it is not about get_current_job()."""
    return f"loaded {input['metadata']}"  # type: ignore[index]


def record_call(path: str, marker: str, when: object) -> None:
    """Append what this run got: its marker, and the datetime argument's type, value and zone."""
    import json

    zone = getattr(getattr(when, "tzinfo", None), "key", None)
    iso = when.isoformat() if hasattr(when, "isoformat") else repr(when)
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps([marker, type(when).__name__, iso, zone]) + "\n")


def now_to(path: str) -> None:
    """Write the time the job started running (epoch seconds) to ``path``."""
    Path(path).write_text(repr(time.time()), encoding="utf-8")


def ask_then_die(seconds: float = 0.2) -> None:
    """Ask the supervisor for the job's record from a thread, then die before any answer."""
    import contextvars
    import threading

    import conveyor

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(conveyor.get_current_job,), daemon=True).start()
    time.sleep(seconds)
    os.kill(os.getpid(), signal.SIGKILL)
