"""Redis specifics: URLs, a worker end to end, and a server restart in mid-run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import conveyor
import conveyor_test_jobs
from conveyor import config
from conveyor.backends import open_backend
from conveyor.exceptions import BackendUnavailable, ConfigError
from support import StartWorker, free_port, stop_process, wait_until

redis = pytest.importorskip("redis")


@pytest.fixture
def on_redis(redis_url: str) -> Iterator[str]:
    """The process-wide configuration pointed at the shared Redis, in a namespace of its own."""
    with config.override({"conveyor.backend": redis_url}):
        yield redis_url


def test_the_namespace_option_is_validated() -> None:
    with pytest.raises(ConfigError, match="Invalid namespace"):
        open_backend("redis://127.0.0.1:6379/0?namespace=a%20b")
    with pytest.raises(ConfigError, match="Invalid namespace"):
        open_backend("redis://127.0.0.1:6379/0?namespace=")


def test_an_unreachable_server_is_a_clear_error_and_stores_nothing() -> None:
    port = free_port()  # nothing listens there
    with (
        config.override({"conveyor.backend": f"redis://127.0.0.1:{port}/0"}),
        pytest.raises(BackendUnavailable, match=f"Redis at 127.0.0.1:{port}/0 is unavailable"),
    ):
        conveyor.enqueue(conveyor_test_jobs.succeed)


def test_a_worker_runs_jobs_from_redis_in_queue_order(on_redis: str, tmp_path: Path) -> None:
    log = tmp_path / "order.txt"
    for queue, text in (("b", "b1"), ("a", "a1"), ("b", "b2"), ("a", "a2")):
        conveyor.enqueue(conveyor_test_jobs.touch, [str(log), text], queue=queue)
    failing = conveyor.enqueue(conveyor_test_jobs.failing_job, queue="a")
    conveyor.Worker(["a", "b"]).work(burst=True)
    assert log.read_text().split() == ["a1", "a2", "b1", "b2"]
    failing.refresh()
    assert failing.state.value == "failed"
    assert failing.error is not None
    assert failing.error.message == "JOB FAILURE"
    assert [q["name"] for q in conveyor.queue_list()] == ["a", "b"]


def test_two_sites_on_one_redis_never_see_each_others_jobs(on_redis: str) -> None:
    mine = conveyor.enqueue(conveyor_test_jobs.succeed)
    with config.override({"conveyor.site_id": "other.site"}):
        assert conveyor.job_list() == []
        assert conveyor.get_all_queues() == []
        with pytest.raises(KeyError):
            conveyor.job_from_id(mine.id)
        assert conveyor.job_clear() == []
    assert conveyor.job_list(ids_only=True) == [mine.id]


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start (and restart) a Redis server of the test's own, persisting to an append-only file."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        started.append(proc)
        client = redis.Redis(port=port, socket_connect_timeout=1)
        wait_until(lambda: _pings(client), timeout=10)
        return proc

    start.port = port  # type: ignore[attr-defined]
    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _pings(client: object) -> bool:
    try:
        return bool(client.ping())  # type: ignore[attr-defined]
    except redis.RedisError:
        return False


def test_a_store_on_a_unix_socket_with_a_namespace_keeps_jobs(tmp_path: Path) -> None:
    """``unix:///path.sock?namespace=NAME`` (documented) once failed twice: the ``//`` was lost
    with the namespace, then the TCP keepalive options were handed to the Unix socket."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed: the Unix socket test cannot run")
    sock = tmp_path / "redis.sock"
    process = subprocess.Popen(
        [server, "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(unix_socket_path=str(sock), socket_connect_timeout=1)
        wait_until(lambda: _pings(client), "the Unix socket's redis-server to start", timeout=10)
        client.close()
        with config.override({"conveyor.backend": f"unix://{sock}?db=0&namespace=onsocket"}):
            job = conveyor.enqueue(conveyor_test_jobs.succeed)
            conveyor.Worker().work(burst=True)
            assert conveyor.job_from_id(job.id).state is conveyor.JobState.FINISHED
        client = redis.Redis(unix_socket_path=str(sock))
        assert client.keys("onsocket:*")
        client.close()
    finally:
        process.kill()
        process.wait(10)


@pytest.mark.slow
def test_a_worker_rides_out_a_redis_restart_and_loses_no_job(
    private_redis: Callable[[], subprocess.Popen[bytes]],
    subprocess_env: dict[str, str],
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    server = private_redis()
    url = f"redis://127.0.0.1:{private_redis.port}/0"  # type: ignore[attr-defined]
    runs = tmp_path / "runs"
    runs.mkdir()
    with config.override({"conveyor.backend": url}):
        jobs = conveyor.enqueue_many(
            {"fn": conveyor_test_jobs.record_run, "args": [str(runs), n, 0.01]} for n in range(300)
        )
        env = {**subprocess_env, "CONVEYOR_BACKEND": url, "CONVEYOR_WORKER_LEASE": "3"}
        worker = start_worker("--log-level", "WARNING", env=env)
        try:
            wait_until(lambda: len(list(runs.iterdir())) >= 50)
            server.send_signal(signal.SIGKILL)  # appendfsync always: nothing acknowledged is lost
            server.wait()
            time.sleep(1.0)  # the store stays away for a while
            private_redis()

            def all_finished() -> bool:
                return conveyor.job_count(states=["finished"]) == len(jobs)

            wait_until(all_finished, timeout=60)
            assert worker.running(), "the worker must ride out the outage"
        finally:
            stop_process(worker.process)
    ran = {int(path.name.split("-")[0]) for path in runs.iterdir()}
    assert ran == set(range(300))
    assert "backend error" in worker.stderr


def test_a_claim_that_waited_for_its_job_dates_the_start_and_lease_from_the_wake_up(
    redis_url: str,
) -> None:
    """The wake-up and the claim share a round trip; the claim still knows the wait's length."""
    from conveyor.testing.conformance.support import new_job

    store = open_backend(redis_url)
    producer = open_backend(redis_url)
    queue = "conveyor:default:waits"
    try:
        began = time.time()
        timer = threading.Timer(
            0.4, lambda: producer.enqueue([new_job("late", queue)], now=time.time())
        )
        timer.start()
        (record,) = store.claim([queue], worker="w", lease=30.0, now=began, limit=1, wait=5.0)
        claimed = time.time()
        timer.join()
    finally:
        store.close()
        producer.close()
    assert record.id == "late"
    assert record.started_at is not None
    assert record.lease_expires_at is not None
    # Dated at the wake-up (0.4 s into the wait), not at the moment the wait began.
    assert began + 0.3 <= record.started_at <= claimed + 0.05
    assert record.lease_expires_at == pytest.approx(record.started_at + 30.0, abs=1e-3)


def test_each_thread_and_each_forked_process_talks_over_its_own_connection(
    redis_url: str,
) -> None:
    """The scripts' round trips use a connection kept per thread: threads never
    interleave on one socket, and a forked child never uses its parent's."""
    backend = open_backend(redis_url)

    def client_id() -> int:
        return int(backend._pipelined([("CLIENT", "ID")])[0])  # type: ignore[attr-defined]

    try:
        mine = client_id()
        assert client_id() == mine  # kept, not taken from the pool each time
        others: list[int] = []
        thread = threading.Thread(target=lambda: others.append(client_id()))
        thread.start()
        thread.join()
        assert len(others) == 1
        assert others[0] != mine
        read_end, write_end = os.pipe()
        with warnings.catch_warnings():  # Python 3.12+ warns of forking with threads about
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: report its connection, then leave at once
            try:
                os.write(write_end, str(client_id()).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        os.waitpid(pid, 0)
        with os.fdopen(read_end, "rb") as reader:
            child = int(reader.read() or b"0")
        assert child not in (0, mine)
        assert client_id() == mine  # the parent's connection is unharmed
    finally:
        backend.close()
