"""Chaos run: jobs through workers that are killed, frozen and locked out at random.

    python bench/chaos.py [--jobs 10000] [--workers 3] [--concurrency 2]
                          [--kill-every 0.5 2.0] [--lease 3] [--job-seconds 0.002]
                          [--fork-every 50] [--faults kill,stop,lock]
                          [--backend URL | --private-redis] [--seed N]

Enqueues N jobs, each of which appends its number to a log file while holding
an exclusive lock of its own (every ``--fork-every``-th job also forks a
grandchild), starts several `conveyor jobs worker` processes, and keeps
hurting a random one until every job has ended or the deadline passes:
SIGKILL of its supervisor or of one of its children (then a replacement is
started), SIGSTOP of its supervisor for longer than the lease (then SIGCONT),
or a lock on the store held for longer than the lease (SQLite and
PostgreSQL; with ``--private-redis``, the run's own redis-server frozen with
SIGSTOP for as long, then SIGCONT: the machine's shared Redis is never
frozen). Then it prints how many jobs were enqueued, finished, failed,
lost (never ended), run more than once, and overlapping (a run that found the
job's lock held by another run: must be 0), and exits non-zero if any job was
lost, stuck or overlapped.

At-least-once delivery means "run more than once" may be above zero (a job
whose worker died after running it but before recording it runs again); it
must never be lost.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from conveyor.exceptions import BackendError

HERE = Path(__file__).resolve().parent


def _children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


class Fleet:
    """The worker processes of the run, each started and stopped by pid."""

    def __init__(self, env: dict[str, str], concurrency: int, logs: Path) -> None:
        self.env = env
        self.concurrency = concurrency
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started = 0
        self.kills = collections.Counter[str]()
        self.stopped: dict[int, float] = {}  # supervisors frozen (SIGSTOP), until when

    def start(self) -> None:
        self.started += 1
        log = (self.logs / f"worker-{self.started}.log").open("wb")
        cmd = [
            str(Path(sys.executable).parent / "conveyor"),
            "jobs",
            "worker",
            "--concurrency",
            str(self.concurrency),
            "--log-level",
            "WARNING",
        ]
        self.procs.append(
            subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        )
        log.close()

    def freeze_one(self, rng: random.Random, seconds: float) -> None:
        """SIGSTOP a supervisor for ``seconds`` (longer than the lease): its children fence."""
        alive = [p for p in self.procs if p.poll() is None and p.pid not in self.stopped]
        if not alive:
            return
        victim = rng.choice(alive)
        victim.send_signal(signal.SIGSTOP)
        self.stopped[victim.pid] = time.monotonic() + seconds
        self.kills["supervisor_stopped"] += 1

    def thaw_due(self, everything: bool = False) -> None:
        now = time.monotonic()
        for proc in self.procs:
            until = self.stopped.get(proc.pid)
            if until is not None and (everything or now >= until):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGCONT)
                del self.stopped[proc.pid]

    def kill_one(self, rng: random.Random) -> None:
        alive = [p for p in self.procs if p.poll() is None and p.pid not in self.stopped]
        if not alive:
            return
        victim = rng.choice(alive)
        children = _children_of(victim.pid)
        if children and rng.random() < 0.5:
            os.kill(rng.choice(children), signal.SIGKILL)
            self.kills["child"] += 1
            return
        victim.kill()
        victim.wait()
        self.procs.remove(victim)
        self.kills["supervisor"] += 1
        self.start()

    def stop(self) -> None:
        self.thaw_due(everything=True)
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


_locking = threading.Lock()  # one store lock at a time


def _start_private_redis(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server of this run's own, on a free loopback port: the one the run may freeze."""
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("--private-redis: redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    argv += ["no", "--dir", str(work)]
    log = (work / "redis-server.log").open("wb")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                return process, f"redis://127.0.0.1:{port}/0?namespace=chaos"
        time.sleep(0.1)
    process.kill()
    process.wait()
    raise SystemExit(f"--private-redis: redis-server did not answer on port {port}")


def _lock_store(url: str, seconds: float, redis_pid: int | None = None) -> str | None:
    """Hold a lock on the store for ``seconds``, in a thread: "store_locked", or "store_frozen"
    for the run's own redis-server (``redis_pid``); None where neither can be done."""
    if not _locking.acquire(blocking=False):
        return None
    done = "store_locked"
    if url.startswith("sqlite:///"):
        import sqlite3

        def hold() -> None:
            db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=60)
            db.execute("BEGIN EXCLUSIVE")
            time.sleep(seconds)
            db.execute("ROLLBACK")
            db.close()

    elif url.startswith("postgresql:"):
        import psycopg

        server, _, query = url.partition("?")
        schema = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("schema")
        table = f'"{schema}".conveyor_jobs' if schema else "conveyor_jobs"

        def hold() -> None:
            with psycopg.connect(server) as db:
                db.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
                time.sleep(seconds)
                db.rollback()

    elif redis_pid is not None:  # the run's own redis-server: frozen, then thawed
        done = "store_frozen"

        def hold() -> None:
            os.kill(redis_pid, signal.SIGSTOP)
            try:
                time.sleep(seconds)
            finally:
                with contextlib.suppress(ProcessLookupError):  # the run may have ended first
                    os.kill(redis_pid, signal.SIGCONT)

    else:  # the machine's shared Redis serves others too: never frozen here
        _locking.release()
        return None

    def hold_once() -> None:
        try:
            hold()
        finally:
            _locking.release()

    threading.Thread(target=hold_once, daemon=True).start()
    return done


def _states(env: dict[str, str]) -> collections.Counter[str]:
    import conveyor
    from conveyor import config

    config.install(config.load(env=env))
    counts = collections.Counter[str]()
    for state in ("queued", "scheduled", "started", "finished", "failed", "canceled"):
        counts[state] = conveyor.job_count(states=[state])
    return counts


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--kill-every", type=float, nargs=2, default=(0.5, 2.0))
    parser.add_argument("--lease", type=int, default=3)
    parser.add_argument("--job-seconds", type=float, default=0.002, help="how long each job takes")
    parser.add_argument("--deadline", type=float, default=600.0)
    store = parser.add_mutually_exclusive_group()
    store.add_argument("--backend", default=None, help="default: a fresh SQLite file")
    store.add_argument(
        "--private-redis",
        action="store_true",
        help="start a redis-server of the run's own, which the lock fault freezes (SIGSTOP)",
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--fork-every", type=int, default=50, help="every Nth job forks; 0: none")
    parser.add_argument(
        "--faults", default="kill,stop,lock", help="of kill (SIGKILL), stop (SIGSTOP), lock"
    )
    parser.add_argument(
        "--slow-share", type=float, default=0.2, help="share of faults that stop or lock"
    )
    return parser.parse_args()


def _enqueue(args: argparse.Namespace, runs: Path) -> None:
    import chaos_jobs

    import conveyor

    conveyor.job_clear()
    for start in range(0, args.jobs, 1000):
        conveyor.enqueue_many(
            {
                "fn": chaos_jobs.record,
                "args": [
                    n,
                    str(runs),
                    args.job_seconds,
                    bool(args.fork_every) and n % args.fork_every == 0,
                ],
            }
            for n in range(start, min(start + 1000, args.jobs))
        )


def _hurt(
    fleet: Fleet, args: argparse.Namespace, rng: random.Random, url: str, redis_pid: int | None
) -> None:
    """One fault, of those asked for: a kill, a frozen supervisor, or a locked store."""
    faults = [f for f in args.faults.split(",") if f]
    slow = [f for f in faults if f in {"stop", "lock"}]
    fault = "kill"
    if slow and (rng.random() < args.slow_share or "kill" not in faults):
        fault = rng.choice(slow)
    longer = args.lease * rng.uniform(1.2, 2.0)  # past the lease
    if fault == "stop":
        fleet.freeze_one(rng, longer)
    elif fault == "lock" and (locked := _lock_store(url, longer, redis_pid)):
        fleet.kills[locked] += 1
    else:
        fleet.kill_one(rng)


def _report(
    args: argparse.Namespace, env: dict[str, str], runs: Path, fleet: Fleet, began: float
) -> dict[str, object]:
    counts = _states(env)
    ran = collections.Counter[int]()
    overlaps = collections.Counter[int]()
    for log in runs.glob("*.log"):
        numbers = [int(line) for line in log.read_text().split()]
        (overlaps if log.name.startswith("overlaps-") else ran).update(numbers)
    return {
        "jobs": args.jobs,
        "finished": counts["finished"],
        "failed": counts["failed"],
        "lost_or_stuck": args.jobs - counts["finished"] - counts["failed"],
        "never_ran": sum(1 for n in range(args.jobs) if ran[n] == 0),
        "ran_more_than_once": sum(1 for n in ran if ran[n] > 1),
        "overlapping_runs": sum(overlaps.values()),
        "supervisors_killed": fleet.kills["supervisor"],
        "children_killed": fleet.kills["child"],
        "supervisors_stopped": fleet.kills["supervisor_stopped"],
        "store_locked": fleet.kills["store_locked"],
        "store_frozen": fleet.kills["store_frozen"],
        "seconds": round(time.monotonic() - began, 1),
    }


def main() -> int:
    args = _arguments()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="conveyor-chaos-"))
    runs = work / "runs"
    (runs / "locks").mkdir(parents=True)
    server, backend = None, args.backend or f"sqlite:///{work}/chaos.sqlite3"
    if args.private_redis:
        server, backend = _start_private_redis(work)
    try:
        return _run(args, rng, work, runs, backend, server)
    finally:
        if server is not None:  # stopped by its pid, thawed first if a freeze was under way
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.pid, signal.SIGCONT)
            server.kill()
            server.wait()


def _run(
    args: argparse.Namespace,
    rng: random.Random,
    work: Path,
    runs: Path,
    backend: str,
    server: subprocess.Popen[bytes] | None,
) -> int:
    env = dict(os.environ)
    env.update(
        CONVEYOR_BACKEND=backend,
        CONVEYOR_SITE_ID=f"chaos{os.getpid()}",
        CONVEYOR_WORKER_LEASE=str(args.lease),
        CONVEYOR_JOBS_MAX_ATTEMPTS="1000",  # a killed run is retried, never given up
        PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
    )
    from conveyor import config

    config.install(config.load(env=env))
    began = time.monotonic()
    _enqueue(args, runs)
    print(f"enqueued {args.jobs} jobs in {time.monotonic() - began:.1f}s ({work})")

    fleet = Fleet(env, args.concurrency, work)
    for _ in range(args.workers):
        fleet.start()
    deadline = time.monotonic() + args.deadline
    next_kill = time.monotonic() + rng.uniform(*args.kill_every)
    try:
        while time.monotonic() < deadline:
            try:
                counts = _states(env)
            except BackendError:  # the store is locked by this run: ask again later
                time.sleep(0.2)
                continue
            if counts["finished"] + counts["failed"] >= args.jobs:
                break
            fleet.thaw_due()
            if time.monotonic() >= next_kill:
                _hurt(fleet, args, rng, backend, server.pid if server else None)
                next_kill = time.monotonic() + rng.uniform(*args.kill_every)
            time.sleep(0.2)
    finally:
        fleet.stop()

    report = _report(args, env, runs, fleet, began)
    print(json.dumps(report, indent=2))
    ok = report["lost_or_stuck"] == 0 and report["failed"] == 0 and report["never_ran"] == 0
    ok = ok and report["overlapping_runs"] == 0
    print("OK: no job lost, none overlapped" if ok else "FAIL: lost, stuck, failed or overlapped")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
