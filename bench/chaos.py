"""Chaos run: jobs through workers that are killed with SIGKILL at random.

    python bench/chaos.py [--jobs 10000] [--workers 3] [--concurrency 2]
                          [--kill-every 0.5 2.0] [--lease 3] [--job-seconds 0.002]
                          [--backend URL] [--seed N]

Enqueues N jobs, each of which appends its number to a log file, starts
several `conveyor jobs worker` processes, and keeps killing a random one (its
supervisor, or one of its children) with SIGKILL and starting a replacement,
until every job has ended or the deadline passes. Then it prints how many jobs
were enqueued, finished, failed, lost (never ended) and run more than once,
and exits non-zero if any job was lost or is stuck.

At-least-once delivery means "run more than once" may be above zero (a job
whose worker died after running it but before recording it runs again); it
must never be lost.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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

    def kill_one(self, rng: random.Random) -> None:
        alive = [p for p in self.procs if p.poll() is None]
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
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _states(env: dict[str, str]) -> collections.Counter[str]:
    import conveyor
    from conveyor import config

    config.install(config.load(env=env))
    counts = collections.Counter[str]()
    for state in ("queued", "scheduled", "started", "finished", "failed", "canceled"):
        counts[state] = conveyor.job_count(states=[state])
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--kill-every", type=float, nargs=2, default=(0.5, 2.0))
    parser.add_argument("--lease", type=int, default=3)
    parser.add_argument("--job-seconds", type=float, default=0.002, help="how long each job takes")
    parser.add_argument("--deadline", type=float, default=600.0)
    parser.add_argument("--backend", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    work = Path(tempfile.mkdtemp(prefix="conveyor-chaos-"))
    runs = work / "runs"
    runs.mkdir()
    env = dict(os.environ)
    env.update(
        CONVEYOR_BACKEND=args.backend or f"sqlite:///{work}/chaos.sqlite3",
        CONVEYOR_SITE_ID=f"chaos{os.getpid()}",
        CONVEYOR_WORKER_LEASE=str(args.lease),
        CONVEYOR_JOBS_MAX_ATTEMPTS="1000",  # a killed run is retried, never given up
        PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
    )
    import chaos_jobs

    import conveyor
    from conveyor import config

    config.install(config.load(env=env))
    conveyor.job_clear()
    began = time.monotonic()
    for start in range(0, args.jobs, 1000):
        conveyor.enqueue_many(
            {"fn": chaos_jobs.record, "args": [n, str(runs), args.job_seconds]}
            for n in range(start, min(start + 1000, args.jobs))
        )
    print(f"enqueued {args.jobs} jobs in {time.monotonic() - began:.1f}s ({work})")

    fleet = Fleet(env, args.concurrency, work)
    for _ in range(args.workers):
        fleet.start()
    deadline = time.monotonic() + args.deadline
    next_kill = time.monotonic() + rng.uniform(*args.kill_every)
    try:
        while time.monotonic() < deadline:
            counts = _states(env)
            if counts["finished"] + counts["failed"] >= args.jobs:
                break
            if time.monotonic() >= next_kill:
                fleet.kill_one(rng)
                next_kill = time.monotonic() + rng.uniform(*args.kill_every)
            time.sleep(0.2)
    finally:
        fleet.stop()

    counts = _states(env)
    ran = collections.Counter[int]()
    for log in runs.iterdir():
        ran.update(int(line) for line in log.read_text().split())
    never_ran = sum(1 for n in range(args.jobs) if ran[n] == 0)
    report = {
        "jobs": args.jobs,
        "finished": counts["finished"],
        "failed": counts["failed"],
        "lost_or_stuck": args.jobs - counts["finished"] - counts["failed"],
        "never_ran": never_ran,
        "ran_more_than_once": sum(1 for n in ran if ran[n] > 1),
        "supervisors_killed": fleet.kills["supervisor"],
        "children_killed": fleet.kills["child"],
        "seconds": round(time.monotonic() - began, 1),
    }
    print(json.dumps(report, indent=2))
    ok = report["lost_or_stuck"] == 0 and report["failed"] == 0 and never_ran == 0
    print("OK: no job lost" if ok else "FAIL: jobs lost, stuck or failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
