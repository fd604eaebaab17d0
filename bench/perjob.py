"""What one job costs a worker, in counts a busy machine does not blur, for two source trees.

    .venv/bin/python bench/perjob.py --before /tmp/old/src [--after src] \
        [--redis-url redis://127.0.0.1:6379/15] [--jobs 2000] [--runs 7]

Three figures, each from a fresh process whose ``sys.path`` starts with the
tree measured:

- **child CPU per job**: a worker child's loop (read a job from its pipe, run
  it, send the outcome back) over ``--jobs`` no-op jobs already waiting in
  its pipe, in one process, with its watchdog thread and timeout alarm as a
  real child has them; CPU time (``time.process_time``), median and range of
  ``--runs`` runs, the trees alternating;
- **system calls per job**: a burst worker (supervisor and child) draining
  ``--jobs`` no-op jobs on Redis, under ``strace -f -c`` (skipped when strace
  is missing), start-up included;
- **Redis commands per job** during that drain: commands sent, and commands
  run inside scripts, from ``MONITOR`` (the database given is flushed: use
  one of your own).

``--before`` is a tree's ``src`` folder, e.g. from
``git archive <commit> src | tar -x -C /tmp/old``.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import redis

# The child's loop, in this process. Names that changed between releases are
# looked up both ways, so that an older tree can be measured too.
_CHILD = """
import multiprocessing, socket, sys, time
sys.path.insert(0, sys.argv[1])
from conveyor import serializer
from conveyor.worker import child as c
try:
    from conveyor.execution import Alarm
except ImportError:
    Alarm = None

count = int(sys.argv[2])
message = getattr(c, "JobMessage", None) or getattr(c, "Task")
run = getattr(c, "run_job_message", None) or getattr(c, "run_task")
context = multiprocessing.get_context("fork")
ours, theirs = context.Pipe(duplex=True)
for end in (ours, theirs):  # every job fits in the pipe before the loop starts
    sock = socket.socket(fileno=end.fileno())
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.detach()
payload = serializer.dump_call([], {}, "json")
for seq in range(1, count + 1):
    fields = (seq, "job", "conveyor_test_jobs:succeed", payload, 1, 180)  # timeout: newer
    c.send(ours, message(*fields[: len(message._fields)]))
gate = c.Gate(context)
settings = c.ChildSettings(serializer="json", max_jobs=0)
if Alarm is None:  # a tree from before the running job's context, timeouts and fences
    def step():
        c.send(theirs, run(c.next_task(theirs, gate), settings))
else:
    channel = c.Channel(theirs)
    fence = c.Fence(context)
    try:
        alarm = Alarm(timer=False)
        watchdog = c.Watchdog(fence, 5.0, alarm)
    except TypeError:  # a tree whose alarm sets a timer for each job
        alarm = Alarm()
        watchdog = c.Watchdog(fence, 5.0)
    watchdog.start()
    next_job = getattr(channel, "next_job", None) or getattr(channel, "next_task")
    def step():
        channel.send(run(next_job(gate), settings, channel, alarm, watchdog))
started = time.process_time()
for _ in range(count):
    step()
    sys.stdout.flush()
    sys.stderr.flush()
print((time.process_time() - started) / count)
"""

_ENQUEUE = """
import sys
sys.path.insert(0, sys.argv[1])
import conveyor, conveyor_test_jobs
conveyor.enqueue_many([{"fn": conveyor_test_jobs.succeed}] * int(sys.argv[2]))
"""

_WORKER = """
import sys
sys.path.insert(0, sys.argv[1])
from conveyor.cli import main
sys.argv = ["conveyor", "jobs", "worker", "--burst"]
main(prog_name="conveyor")
"""


_DONE = "perjob: drain over"


def child_cpu(tree: str, jobs: int, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, tree, str(jobs)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise SystemExit(f"the child's loop failed on {tree}:\n{out.stderr}")
    return float(out.stdout.split()[-1]) * 1e6


def _monitor(
    url: str, counts: dict[str, collections.Counter[str]], ready: threading.Event
) -> None:
    client = redis.Redis.from_url(url)
    db = client.connection_pool.connection_kwargs.get("db", 0)
    with client.monitor() as monitor:
        ready.set()
        for command in monitor.listen():
            if command.get("db") != db:
                continue
            text = str(command["command"])
            if text.startswith("ECHO") and _DONE in text:
                return
            name = text.split(" ", 1)[0].strip('"').upper()
            kind = "in scripts" if command.get("client_type") == "lua" else "sent"
            counts[kind][name] += 1


def drain(tree: str, jobs: int, url: str, env: dict[str, str]) -> dict[str, float]:
    """System calls and Redis commands per job of a burst worker draining ``jobs`` jobs."""
    client = redis.Redis.from_url(url)
    client.flushdb()
    subprocess.run([sys.executable, "-c", _ENQUEUE, tree, str(jobs)], env=env, check=True)
    counts: dict[str, collections.Counter[str]] = {
        "sent": collections.Counter(),
        "in scripts": collections.Counter(),
    }
    ready = threading.Event()
    watcher = threading.Thread(target=_monitor, args=(url, counts, ready), daemon=True)
    watcher.start()
    ready.wait(10)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "strace.txt"
        command = [sys.executable, "-c", _WORKER, tree]
        if shutil.which("strace"):
            command = ["strace", "-f", "-c", "-o", str(report), *command]
        subprocess.run(command, env=env, check=True, stderr=subprocess.DEVNULL)
        client.echo(_DONE)  # ends the MONITOR thread's loop
        if report.exists():
            for line in report.read_text().splitlines()[2:]:
                parts = line.split()
                if len(parts) >= 5 and parts[0][0].isdigit():
                    name = "syscalls" if parts[-1] == "total" else f"syscall {parts[-1]}"
                    figures[name] = int(parts[3]) / jobs
    watcher.join(2)
    figures["redis commands sent"] = sum(counts["sent"].values()) / jobs
    figures["redis commands in scripts"] = sum(counts["in scripts"].values()) / jobs
    client.flushdb()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the src folder of the tree before")
    parser.add_argument("--after", default="src", help="the src folder of the tree after")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    here = Path(__file__).resolve().parent
    env = dict(os.environ)
    tests = str(here.parent / "tests")  # conveyor_test_jobs.succeed: the no-op job
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [tests, env.get("PYTHONPATH")]))
    env.update(CONVEYOR_BACKEND=args.redis_url, CONVEYOR_SITE_ID="perjob")
    trees = {"before": args.before, "after": args.after}
    cpu: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(args.runs):
        for name, tree in trees.items():
            cpu[name].append(child_cpu(tree, args.jobs, env))
    counted = {name: drain(tree, args.jobs, args.redis_url, env) for name, tree in trees.items()}
    print(f"per job, {args.jobs} no-op jobs         before     after")
    for name in trees:
        values = cpu[name]
        print(
            f"child CPU, {name}: {statistics.median(values):.2f} µs"
            f" [{min(values):.2f}-{max(values):.2f}]"
        )
    keys = sorted(set(counted["before"]) | set(counted["after"]))
    for key in keys:
        before, after = counted["before"].get(key, 0.0), counted["after"].get(key, 0.0)
        if max(before, after) >= 0.05 or key == "syscalls":
            print(f"{key:32} {before:8.2f}  {after:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
