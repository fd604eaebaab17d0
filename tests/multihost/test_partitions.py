"""Workers on several hosts, through network partitions, on Redis and PostgreSQL.

A store host runs its own redis-server and PostgreSQL; two worker hosts run
``conveyor jobs worker`` against it and a producer host enqueues, each over
its own address (see ``network.py``). Every job holds an exclusive lock of its
own while it runs (``host_jobs.py``): a run that finds it taken is an overlap.

(a) A worker host is cut off (its cable drops every frame) for longer than the
lease while it runs jobs: its children stop themselves, the other host
recovers and finishes the jobs, and the cut-off worker's late outcomes are
refused. (b) The cable is healed: the same worker process rejoins and runs
later jobs. (c) One worker host's link gets 50 ms of delay and 5 % frame loss
each way for a whole run of jobs.

Each scenario asserts and reports: enqueued, finished, run more than once,
overlaps (must be 0) and lost (must be 0).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from figures import FIGURES
from network import ADDRESSES, HERE, Network, stop_by_pid
from stores import REDIS_PORT, StoreServers

import conveyor
from conveyor import JobState
from support import CONVEYOR, is_gone, lines, wait_until

pytestmark = pytest.mark.multihost

SITE = "multihost"
#: The lease of every worker: the shortest the task allows with room for a loaded machine.
LEASE = 3


@dataclass(frozen=True)
class Store:
    """One store of the store host: its URL for the hosts, and for the test (a Unix socket)."""

    kind: str
    url: str
    local_url: str


@pytest.fixture(params=["redis", "postgresql"])
def store(request: pytest.FixtureRequest, store_servers: StoreServers) -> Iterator[Store]:
    """A namespace (Redis) or schema (PostgreSQL) of this test's own on the store host."""
    unique = uuid.uuid4().hex[:12]
    if request.param == "redis":
        url, local = store_servers.redis_urls(f"mh-{unique}")
    else:
        url, local = store_servers.postgresql_urls(f"mh_{unique}")
    with conveyor.config.override({"conveyor.backend": local, "conveyor.site_id": SITE}):
        yield Store(request.param, url, local)


class HostWorker:
    """``conveyor jobs worker`` on a worker host, its log in a file."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    @property
    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8") if self.log.exists() else ""

    def running(self) -> bool:
        return self.process.poll() is None

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        def logged() -> bool:
            assert self.running(), f"the worker exited before logging {text!r}:\n{self.stderr}"
            return text in self.stderr

        wait_until(logged, f"{text!r} in the worker's log", timeout)


class Cluster:
    """The processes of one test on the hosts, and what their jobs wrote."""

    def __init__(self, network: Network, store: Store, directory: Path) -> None:
        self.network = network
        self.store = store
        self.directory = directory
        self.runs = directory / "runs"
        self.runs.mkdir()
        self.workers: list[HostWorker] = []

    def env(self, host: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            CONVEYOR_BACKEND=self.store.url,
            CONVEYOR_SITE_ID=SITE,
            CONVEYOR_WORKER_LEASE=str(LEASE),
            CONVEYOR_WORKER_NAME=host,
            CONVEYOR_JOBS_MAX_ATTEMPTS="10",  # a partition may cost a job more than one attempt
            MULTIHOST_HOST=host,
            PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
        )
        return env

    def start_worker(self, host: str, concurrency: int = 2) -> HostWorker:
        log = self.directory / f"{host}-{len(self.workers)}.log"
        with log.open("wb") as out:
            argv = [CONVEYOR, "jobs", "worker", "--concurrency", str(concurrency)]
            process = self.network.run(host, argv, self.env(host), stdout=out, stderr=out)
        worker = HostWorker(process, log)
        self.workers.append(worker)
        worker.wait_for_log("has started")
        return worker

    def produce(self, prefix: str, count: int, seconds: float) -> dict[str, str]:
        """Enqueue ``count`` jobs from the producer host; their ids by name."""
        argv = [sys.executable, str(HERE / "produce.py"), str(self.runs), prefix]
        process = self.network.run(
            "producer",
            [*argv, str(count), str(seconds)],
            self.env("producer"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            out, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 0, err.decode()
        ids: dict[str, str] = json.loads(out)
        assert len(ids) == count
        return ids

    def events(self, name: str) -> list[tuple[str, str, int]]:
        """What the runs of job ``name`` logged: (start|end|overlap, host, pid), in order."""
        return [
            (event, host, int(pid))
            for event, host, pid in (line.split() for line in lines(self.runs / f"{name}.log"))
        ]

    def running_on(self, host: str, names: list[str]) -> dict[str, int]:
        """The jobs among ``names`` whose last run started on ``host`` and has not ended."""
        running = {}
        for name in names:
            events = self.events(name)
            if events and events[-1][:2] == ("start", host):
                running[name] = events[-1][2]
        return running

    def ended_on(self, host: str, names: list[str]) -> list[str]:
        return [n for n in names if any(e[:2] == ("end", host) for e in self.events(n))]

    def stop(self) -> None:
        """Kill every worker started (by pid, with its group: its children go with it)."""
        for worker in self.workers:
            stop_by_pid(worker.process, first=signal.SIGKILL)


@pytest.fixture
def cluster(network: Network, store: Store, tmp_path: Path) -> Iterator[Cluster]:
    made = Cluster(network, store, tmp_path)
    try:
        yield made
    finally:
        made.stop()


def runs_of(cluster: Cluster, name: str) -> list[tuple[str, str]]:
    """(event, host) of each line job ``name`` logged."""
    return [(event, host) for event, host, _ in cluster.events(name)]


def worker_key(worker: HostWorker) -> str:
    """The worker's unique key, from its start-up line."""
    found = re.search(r", key (conveyor:worker:[0-9a-f]+)$", worker.stderr, re.MULTILINE)
    assert found is not None, worker.stderr
    return found.group(1)


def all_finished(ids: dict[str, str]) -> bool:
    return all(conveyor.job_from_id(i).state is JobState.FINISHED for i in ids.values())


@dataclass(frozen=True)
class Tally:
    enqueued: int
    finished: int
    run_more_than_once: int
    overlaps: int
    lost: int

    def __str__(self) -> str:
        return (
            f"enqueued {self.enqueued}, finished {self.finished}, run more than once"
            f" {self.run_more_than_once}, overlaps {self.overlaps}, lost {self.lost}"
        )


def tally(cluster: Cluster, ids: dict[str, str]) -> Tally:
    """Count from the store (states) and from the jobs' own logs (runs, overlaps).

    A job is lost if the store does not hold it finished, or if no run of it
    reached its end.
    """
    finished = {n for n, i in ids.items() if conveyor.job_from_id(i).state is JobState.FINISHED}
    events = {name: cluster.events(name) for name in ids}
    completed = {n for n, e in events.items() if any(kind == "end" for kind, _, _ in e)}
    return Tally(
        enqueued=len(ids),
        finished=len(finished),
        run_more_than_once=sum(
            1 for e in events.values() if [k for k, _, _ in e].count("start") > 1
        ),
        overlaps=sum(1 for e in events.values() for kind, _, _ in e if kind == "overlap"),
        lost=len(set(ids) - (finished & completed)),
    )


def report(
    cluster: Cluster, ids: dict[str, str], scenario: str, counts: Tally, began: float
) -> None:
    ends = [h for n in ids for e, h, _ in cluster.events(n) if e == "end"]
    split = ", ".join(f"{host} {ends.count(host)}" for host in ("worker1", "worker2"))
    line = (
        f"{cluster.store.kind:<10} {scenario}: {counts}; runs ended on {split}"
        f" ({time.monotonic() - began:.1f} s)"
    )
    print(line)
    FIGURES.append(line)


_PING = """
import socket, sys, time
began = time.monotonic()
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2) as conn:
        conn.sendall(b"PING\\r\\n")
        assert conn.recv(16).startswith(b"+PONG")
except OSError:
    print("unreachable")
else:
    print(time.monotonic() - began)
"""


def redis_ping_from(network: Network, host: str) -> str:
    """Connect from ``host`` to the store host's Redis and PING it: the seconds it took (two
    round trips), or ``unreachable``."""
    process = network.run(
        host,
        [sys.executable, "-c", _PING, ADDRESSES["store"], str(REDIS_PORT)],
        {"PATH": os.environ["PATH"]},
        stdout=subprocess.PIPE,
    )
    out, _ = process.communicate(timeout=30)
    return out.decode().strip()


def test_a_wire_delays_and_cuts_a_worker_hosts_traffic(
    network: Network, store_servers: StoreServers
) -> None:
    """The faults the scenarios rely on are real: each is seen from the host, and only there."""
    assert redis_ping_from(network, "worker2") != "unreachable"
    network.impair("worker2", 50, 0)
    try:
        assert float(redis_ping_from(network, "worker2")) >= 0.2  # two round trips of 2 x 50 ms
    finally:
        network.clear("worker2")
    network.cut("worker1")
    try:
        assert redis_ping_from(network, "worker1") == "unreachable"
        assert redis_ping_from(network, "worker2") != "unreachable"
    finally:
        network.heal("worker1")
    # Reachable again once the host's kernel resolves the store's address anew (ARP).
    wait_until(lambda: redis_ping_from(network, "worker1") != "unreachable", "the healed host")


def test_a_worker_host_cut_off_past_its_lease_is_fenced_then_rejoins(
    network: Network, cluster: Cluster
) -> None:
    began = time.monotonic()
    cut_off = cluster.start_worker("worker1")
    first = cluster.produce("cut", 4, 6.0)
    wait_until(lambda: len(cluster.running_on("worker1", list(first))) == 2, "worker1's 2 runs")
    other = cluster.start_worker("worker2")
    other_key = worker_key(other)
    held = cluster.running_on("worker1", list(first))
    done_late, fenced = sorted(held)

    # (a) Cut off for longer than the lease while its two jobs run. One of them then ends at
    # once, on the cut-off host: its outcome cannot reach the store. The other runs on.
    network.cut("worker1")
    cut_at = time.monotonic()
    try:
        (cluster.runs / f"{done_late}.release").touch()
        wait_until(lambda: ("end", "worker1") in runs_of(cluster, done_late), "the late outcome")
        # The other one's process stops itself (fence at lease - margin after the last renewal).
        wait_until(lambda: is_gone(held[fenced]), "worker1's child to stop itself", LEASE + 1.0)
        assert ("end", "worker1") not in runs_of(cluster, fenced)
        # The other host recovers both jobs, and finishes every job, worker1 still cut off.
        wait_until(lambda: all_finished(first), "worker2 to finish every job", timeout=60)
        assert time.monotonic() - cut_at > LEASE
        for name in held:
            assert runs_of(cluster, name)[-2:] == [("start", "worker2"), ("end", "worker2")]
    finally:
        network.heal("worker1")
    cut_for = time.monotonic() - cut_at

    # Healed: the late outcome reaches the store and is refused; the record stays worker2's.
    cut_off.wait_for_log(f"Outcome of job {first[done_late]} was not recorded: its lease was lost")
    for name in held:
        job = conveyor.job_from_id(first[name])
        assert (job.state, job.worker) == (JobState.FINISHED, other_key)
        assert [e.type for e in job.errors] == ["WorkerLost"]

    # (b) The same worker process rejoins and runs later jobs.
    later = cluster.produce("healed", 8, 1.0)
    wait_until(lambda: all_finished(later), "the later jobs to finish", timeout=90)
    assert cluster.ended_on("worker1", list(later)), "worker1 ran none of the later jobs"
    assert cut_off.running()
    assert other.running()

    everything = {**first, **later}
    counts = tally(cluster, everything)
    scenario = f"cut off {cut_for:.1f} s (lease {LEASE} s), then healed"
    report(cluster, everything, scenario, counts, began)
    assert counts.overlaps == 0
    assert counts.lost == 0
    assert counts.finished == counts.enqueued == 12
    assert counts.run_more_than_once >= 2  # both jobs cut off were run again by worker2


def test_delay_and_loss_on_one_worker_host_lose_nothing_and_never_overlap(
    network: Network, cluster: Cluster
) -> None:
    began = time.monotonic()
    network.impair("worker2", 50, 0.05)
    try:
        cluster.start_worker("worker1")
        cluster.start_worker("worker2")
        ids = cluster.produce("lossy", 30, 1.5)
        wait_until(lambda: all_finished(ids), "every job to finish", timeout=120)
    finally:
        network.clear("worker2")
    assert cluster.ended_on("worker2", list(ids)), "the impaired host ran none of the jobs"

    counts = tally(cluster, ids)
    report(cluster, ids, "50 ms delay + 5 % loss each way on worker2", counts, began)
    assert counts.overlaps == 0
    assert counts.lost == 0
    assert counts.finished == counts.enqueued == 30
