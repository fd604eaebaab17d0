"""Helpers shared by the tests that run real processes."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import conveyor
from conveyor import JobState

#: The tests' own directory (the helper modules) and the repository's root.
TESTS_DIR = Path(__file__).resolve().parent
ROOT = TESTS_DIR.parent
#: The ``conveyor`` command of the environment running the tests.
CONVEYOR = str(Path(sys.executable).parent / "conveyor")
#: The longest any condition may take before a test fails.
WAIT = 30.0
#: A lease short enough for recovery to happen within a test (the shortest allowed).
SHORT_LEASE = 2
#: The start-up line: the worker's name and PID, then its site, store and unique key.
_STARTED = re.compile(
    r"Worker (?P<name>\S+) \(PID (?P<pid>\d+)\) has started on .*"
    r", key (?P<key>conveyor:worker:[0-9a-f]+)$",
    re.MULTILINE,
)


def wait_until(
    condition: Callable[[], object], what: str = "a condition", timeout: float = WAIT
) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


_Opened = TypeVar("_Opened")


def open_at_once(open_one: Callable[[], _Opened], count: int = 4) -> list[_Opened]:
    """Call ``open_one`` in ``count`` threads released together; what each opened.

    Fails the test if any call raised (with the errors), or a thread did not end in a minute.
    """
    barrier = threading.Barrier(count)
    opened: list[_Opened] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(30)
            opened.append(open_one())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(opened) == count
    return opened


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def is_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie awaiting its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def state_of(job: conveyor.Job) -> JobState:
    job.refresh()
    return job.state


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``conveyor ARGS`` to its end."""
    return subprocess.run(
        [CONVEYOR, *args], env=env, capture_output=True, text=True, timeout=WAIT, check=False
    )


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Ask a process to stop (SIGTERM); kill it if it has not within ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def serving(
    env: dict[str, str], log: Path, *, threads: int, ready_path: str
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``conveyor serve`` on a free loopback port, its stderr in ``log``.

    Yields the process and its base URL once ``ready_path`` answers (failing the test, with
    the log, if the server exits first); stops it by its pid on the way out.
    """
    port = free_port()
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [
                CONVEYOR,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--threads",
                str(threads),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    base = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        assert process.poll() is None, f"conveyor serve exited:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(base + ready_path, timeout=2):
                return True
        except OSError:
            return False

    try:
        wait_until(answering, "conveyor serve to answer")
        yield process, base
    finally:
        stop_process(process, timeout=10)


class WorkerProcess:
    """A ``conveyor jobs worker`` process in its own session, its output in files."""

    def __init__(self, args: list[str], env: dict[str, str], directory: Path) -> None:
        directory.mkdir()
        self.stdout_path = directory / "worker.out"
        self.stderr_path = directory / "worker.err"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [CONVEYOR, "jobs", "worker", *args],
                env=env,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its group holds it and its children, for cleanup
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8")

    @property
    def key(self) -> str:
        """The worker's run id, as its first log line gives it."""
        self.wait_for_log("has started")
        found = _STARTED.search(self.stderr)
        assert found is not None, self.stderr
        assert int(found.group("pid")) == self.pid
        return found.group("key")

    @property
    def name(self) -> str:
        """How the worker's log lines name it, as its first log line gives it."""
        self.wait_for_log("has started")
        found = _STARTED.search(self.stderr)
        assert found is not None, self.stderr
        return found.group("name")

    def wait_for_log(self, text: str) -> None:
        def logged() -> bool:
            if text in self.stderr:
                return True
            assert self.running(), f"the worker exited before logging {text!r}:\n{self.stderr}"
            return False

        wait_until(logged, f"{text!r} in the worker's log")

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def running(self) -> bool:
        return self.process.poll() is None

    def exit_code(self, timeout: float = WAIT) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the worker did not exit:\n{self.stderr}") from None

    def stop(self) -> None:
        """Kill the worker (paused or not) and whatever is left of its children."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        with contextlib.suppress(ProcessLookupError):  # an empty group: all are gone
            os.killpg(self.pid, signal.SIGKILL)


#: ``start_worker(*args, env=None, **settings)``: the ``start_worker`` fixture (conftest.py).
StartWorker = Callable[..., "WorkerProcess"]


@contextlib.contextmanager
def worker_processes(
    tmp_path: Path,
) -> Iterator[Callable[[list[str], dict[str, str]], WorkerProcess]]:
    """What the ``start_worker`` fixture is built on: every worker started is stopped (by its
    pid) when the block ends, whatever happened in it."""
    started: list[WorkerProcess] = []

    def start(args: list[str], env: dict[str, str]) -> WorkerProcess:
        worker = WorkerProcess(args, env, tmp_path / f"worker{len(started)}")
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()
