"""What reading costs at depth: 1,000 versus 1,000,000 queued jobs, on each store.

    .venv/bin/python bench/depth.py [--stores sqlite,postgresql,redis]
        [--depths 1000,1000000] [--reps 5] [--out bench/results/depth.json]

A benchmark, not a test (``make bench-depth``; not run in CI). For each store
it fills one queue of a fresh site to each depth in turn (``enqueue_many``
in batches of 10,000 on the SQL stores and 1,000 on Redis, so the records are
what conveyor writes), then times, ``--reps`` times each, in this process:

- ``job_list()`` (the first page, default limit), ``job_count()`` and the
  backend's ``count()`` of the site's queues;
- ``conveyor jobs list`` (click's CliRunner, in process: no interpreter start);
- the dashboard's pages through Flask's test client, signed in with a token:
  overview, jobs, one job, workers, periodic; and ``GET /metrics``.

Each figure is the median with the min-max of its repetitions, in
milliseconds. A few jobs are also run to their end (finished, failed) so the
job page and the charts have something to show, and a worker is registered.

Stores (each emptied of this benchmark's site before and after):
SQLite in a temporary directory; PostgreSQL ``--postgresql-url`` (default
database ``cv_counts``, schema ``conveyor_depth``, dropped at the end); Redis
``--redis-url`` (default db 11, namespace ``conveyor-depth``, deleted at the end).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from click.testing import CliRunner

import conveyor
from conveyor import manage
from conveyor.api import backend
from conveyor.backends import close_shared
from conveyor.backends.base import Completion, ErrorInfo, JobState, WorkerInfo
from conveyor.cli import main as cli
from conveyor.web import auth, create_app

SITE = "depth"
QUEUE = "default"
PAGES = {
    "dashboard overview": "/dashboard/",
    "dashboard jobs": "/dashboard/jobs",
    "dashboard job": "/dashboard/jobs/{job}",
    "dashboard workers": "/dashboard/workers",
    "dashboard periodic": "/dashboard/periodic",
}


def timed(action: Callable[[], object], reps: int) -> dict[str, float]:
    """Milliseconds per call: median, min and max over ``reps`` calls (after one warm-up)."""
    action()
    spent = []
    for _ in range(reps):
        started = time.perf_counter()
        action()
        spent.append((time.perf_counter() - started) * 1000)
    return {"median": statistics.median(spent), "min": min(spent), "max": max(spent)}


@contextmanager
def store_url(store: str, args: argparse.Namespace) -> Iterator[str]:
    """The URL of an empty store for the benchmark's site; emptied again afterwards."""
    if store == "sqlite":
        with tempfile.TemporaryDirectory(prefix="conveyor-depth-") as scratch:
            yield f"sqlite:///{scratch}/depth.sqlite3"
        return
    if store == "postgresql":
        import psycopg

        def drop() -> None:
            with psycopg.connect(args.postgresql_url, autocommit=True) as admin:
                admin.execute("DROP SCHEMA IF EXISTS conveyor_depth CASCADE")

        drop()
        try:
            yield f"{args.postgresql_url}?schema=conveyor_depth"
        finally:
            close_shared()
            drop()
        return
    import redis

    client = redis.Redis.from_url(args.redis_url)

    def delete() -> None:
        for chunk in batched(client.scan_iter(match="conveyor-depth:*", count=10_000), 10_000):
            client.delete(*chunk)

    delete()
    try:
        yield f"{args.redis_url}?namespace=conveyor-depth"
    finally:
        close_shared()
        delete()
        client.close()


def batched(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def fill(to: int, have: int, batch: int) -> float:
    """Enqueue jobs until the queue holds ``to``; the seconds it took."""
    started = time.perf_counter()
    while have < to:
        step = min(batch, to - have)
        conveyor.enqueue_many(
            [{"fn": "operator:truth", "args": [n], "queue": QUEUE} for n in range(step)]
        )
        have += step
        if have % 100_000 < step:
            print(f"    {have:,} queued", file=sys.stderr, flush=True)
    return time.perf_counter() - started


def settle(url: str) -> None:
    """Wait out the background save a big fill sets off (Redis's default ``save``
    rules fork and write the whole dataset), so it does not weigh on the figures."""
    import redis

    client = redis.Redis.from_url(url)
    time.sleep(1)  # a save starts at the server's next cron tick
    while int(client.info("persistence").get("rdb_bgsave_in_progress", 0)):
        time.sleep(0.5)
    client.close()


def run_a_few() -> str:
    """End a few jobs of another queue (finished, failed) and register a worker; a job's id."""
    store = backend()
    prefix = conveyor.config.current().queue_prefix
    queue = prefix + "ended"
    jobs = conveyor.enqueue_many([{"fn": "operator:truth", "args": [n], "queue": "ended"}
                                  for n in range(20)])  # fmt: skip
    now = time.time()
    claimed = store.claim([queue], worker="depth-bench", lease=60, now=now, limit=20)
    outcomes = [
        Completion(r.id, r.lease_token or "", JobState.FINISHED, result=b"\x01true")
        if n % 4
        else Completion(
            r.id,
            r.lease_token or "",
            JobState.FAILED,
            error=ErrorInfo("RuntimeError", "boom", attempt=1, at=now),
        )
        for n, r in enumerate(claimed)
    ]
    store.complete(outcomes, now=now + 0.01)
    info = WorkerInfo(key="depth-bench", queues=(prefix + QUEUE,), host="bench", pid=os.getpid(),
                      started_at=now, heartbeat_at=now)  # fmt: skip
    store.register_worker(info, ttl=3600, now=now)
    return jobs[0].id


def measure(reps: int, job_id: str) -> dict[str, dict[str, float]]:
    """Every figure of one store at its current depth."""
    store = backend()
    names = store.queue_names(conveyor.config.current().queue_prefix)
    _, token = auth.create_token(f"depth-{time.time_ns()}")
    client = create_app().test_client()
    page = client.get("/dashboard/signin").get_data(as_text=True)
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    signed = client.post("/dashboard/signin", data={"csrf": csrf, "token": token})
    assert signed.status_code == 302, signed.status_code
    runner = CliRunner()

    def get(path: str, **headers: str) -> Callable[[], None]:
        def fetch() -> None:
            answer = client.get(path, headers=headers)
            assert answer.status_code == 200, (path, answer.status_code)

        return fetch

    def cli_list() -> None:
        result = runner.invoke(cli, ["jobs", "list"])
        assert result.exit_code == 0, result.output

    figures = {
        "job_list() first page": timed(manage.job_list, reps),
        "job_count()": timed(manage.job_count, reps),
        "Backend.count()": timed(lambda: store.count(names), reps),
        "jobs list (CLI)": timed(cli_list, reps),
    }
    for name, path in PAGES.items():
        figures[name] = timed(get(path.format(job=job_id)), reps)
    metrics = get("/metrics", Authorization=f"Bearer {token}")
    with contextlib.suppress(AssertionError):  # without prometheus_client: no such route
        figures["/metrics"] = timed(metrics, reps)
    return figures


def bench_store(store: str, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with store_url(store, args) as url:
        os.environ["CONVEYOR_BACKEND"] = url
        os.environ["CONVEYOR_SITE_ID"] = SITE
        conveyor.configure(settings={"conveyor.backend": url, "conveyor.site_id": SITE})
        job_id = run_a_few()
        have = 0
        for depth in args.depths:
            batch = 1_000 if store == "redis" else 10_000
            print(f"  {store}: filling to {depth:,}", file=sys.stderr, flush=True)
            seconds = fill(depth, have, batch)
            have = depth
            if store == "redis":
                settle(args.redis_url)
            counted = backend().count([conveyor.config.current().queue_prefix + QUEUE])
            queued = next(iter(counted.values())).get(JobState.QUEUED, 0)
            assert queued == depth, (queued, depth)
            figures = measure(args.reps, job_id)
            results[str(depth)] = {"fill_seconds": seconds, "figures": figures}
            print(table(store, depth, figures), file=sys.stderr, flush=True)
        close_shared()
    return results


def ms(value: float) -> str:
    return f"{value:.2f}" if value < 1 else f"{value:.1f}"


def cell(f: dict[str, float]) -> str:
    return f"{ms(f['median'])} [{ms(f['min'])}-{ms(f['max'])}]"


def table(store: str, depth: int, figures: dict[str, dict[str, float]]) -> str:
    lines = [f"{store} at {depth:,} queued jobs (ms, median [min-max])"]
    for name, f in figures.items():
        lines.append(f"  {name:24} {cell(f)}")
    return "\n".join(lines)


def markdown(results: dict[str, Any], depths: list[int]) -> str:
    """One table per store: a row per figure, a column per depth."""
    out = []
    for store, by_depth in results.items():
        head = " | ".join(f"{d:,} jobs" for d in depths if str(d) in by_depth)
        out.append(f"**{store}** (ms, median [min-max])\n\n| figure | {head} |")
        out.append("|---|" + "---|" * len(by_depth))
        names = next(iter(by_depth.values()))["figures"]
        for name in names:
            cells = []
            for depth in depths:
                f = by_depth.get(str(depth), {}).get("figures", {}).get(name)
                if f:
                    cells.append(cell(f))
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        fills = ", ".join(f"{int(d):,} in {v['fill_seconds']:.0f} s" for d, v in by_depth.items())
        out.append(f"\nFilled (cumulative steps): {fills}.\n")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stores", default="sqlite,postgresql,redis")
    parser.add_argument("--depths", default="1000,1000000")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument(
        "--postgresql-url", default="postgresql://postgres@127.0.0.1:5432/cv_counts"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--out", default="bench/results/depth.json")
    args = parser.parse_args()
    args.depths = sorted(int(d) for d in args.depths.split(","))
    started = time.time()
    load_before = os.getloadavg()
    results = {store: bench_store(store, args) for store in args.stores.split(",")}
    record = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs,"
        f" Python {platform.python_version()}",
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "reps": args.reps,
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2))
    print(markdown(results, args.depths))
    print(f"\nLoad average (1, 5, 15 min): before {load_before}, after {os.getloadavg()}.")


if __name__ == "__main__":
    main()
