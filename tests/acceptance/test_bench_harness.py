"""The benchmark harness's own logic: figures per pass, ratios per pass, targets, load, output.

``bench/run.py`` is a script of the benchmark's environment; its pure parts import with the
standard library only, so they are tested here without any peer library or server.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from support import ROOT, is_gone, wait_until

BENCH = ROOT / "bench"


@pytest.fixture(scope="module")
def run() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run_under_test", BENCH / "run.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def a_run(enqueue: float, drain: float | None, latencies: list[float]) -> dict[str, Any]:
    """One pass of one system, as Bench.measure records it."""
    return {
        "enqueue": enqueue,
        "enqueue_bulk": None,
        "drain_1": {"rate": drain, "jobs": 100},
        "drain_2": None,
        "latency": {"samples_ms": latencies},
        "errors": {},
    }


def a_system(name: str, family: str, store: str, runs: list[dict[str, Any]], **kw: Any) -> Any:
    return {
        "name": name,
        "family": family,
        "store": store,
        "label": name,
        "tuned": kw.get("tuned", False),
        "status": "measured",
        "runs": runs,
    }


def test_a_figure_is_the_median_with_the_range_over_the_passes(run: ModuleType) -> None:
    runs = [a_run(100, 10, [1, 2, 3]), a_run(300, 30, [5, 6, 7]), a_run(200, None, [2, 3, 4])]
    found = run.summary(runs)
    assert found["enqueue"] == {"median": 200, "min": 100, "max": 300, "n": 3}
    # A pass without the figure does not count, and is not a zero.
    assert found["drain_1"] == {"median": 20, "min": 10, "max": 30, "n": 2}
    assert found["enqueue_bulk"]["median"] is None
    # Latency: the percentile of each pass, then median [min-max] of those.
    assert found["latency_p50"] == {"median": 3, "min": 2, "max": 6, "n": 3}
    assert found["pooled"]["latency_p50"] == 3  # over all nine samples


def test_a_ratio_is_taken_within_each_pass_before_the_median(run: ModuleType) -> None:
    # conveyor is twice as fast in every pass while the machine's speed swings by 10x:
    # per-pass ratios are all 2; a ratio of medians across passes could be anything.
    ours = a_system("c", "conveyor_redis", "redis", [a_run(200, 20, [1]), a_run(2000, 40, [1])])
    theirs = a_system("p", "huey", "redis", [a_run(100, 10, [2]), a_run(1000, 20, [4])])
    table = run.ratios({"c": ours, "p": theirs})
    assert table["c"]["p"]["enqueue"]["passes"] == [2.0, 2.0]
    assert table["c"]["p"]["enqueue"]["median"] == 2.0
    assert table["c"]["p"]["drain_1"]["passes"] == [2.0, 2.0]
    # Latency: lower is better, so the ratio is theirs over ours.
    assert table["c"]["p"]["latency_p50"]["passes"] == [2.0, 4.0]
    assert "c" not in table["c"]  # no ratio of conveyor to itself


def test_targets_compare_with_the_best_rival_of_each_pass(run: ModuleType) -> None:
    ours = a_system("c", "conveyor_redis", "redis", [a_run(100, 300, [1]), a_run(100, 300, [1])])
    huey = a_system("huey", "huey", "redis", [a_run(100, 100, [1]), a_run(100, 200, [1])])
    rq = a_system("rq", "rq", "redis", [a_run(100, 140, [1]), a_run(100, 10, [1])])
    tuned = a_system("t", "huey", "redis", [a_run(1, 1000, [1]), a_run(1, 1000, [1])], tuned=True)
    # A system on another store is no rival for a Redis target.
    pg = a_system("pg", "pgqueuer", "postgresql", [a_run(1, 9999, [1]), a_run(1, 9999, [1])])
    results = {"c": ours, "huey": huey, "rq": rq, "t": tuned, "pg": pg}
    checks = {c["goal"]: c for c in run.targets(results)["c"]}
    drain = checks["drain x1 >= 2x the best peer's default"]
    # Pass 1: best default peer rq (140) -> 300/140; pass 2: huey (200) -> 1.5.
    assert drain["ratio"]["min"] == pytest.approx(1.5)
    assert drain["ratio"]["max"] == pytest.approx(300 / 140)
    assert drain["met"] is False  # median 1.82 < 2
    assert set(drain["versus"].split(", ")) == {"huey", "rq"}
    # No Dramatiq measured: the target is reported as not measurable, not as met.
    assert checks["drain x1 >= 1.5x Dramatiq (prefetch 64)"]["met"] is None


def test_the_busy_loops_run_at_the_lowest_priority_and_are_stopped(run: ModuleType) -> None:
    with run.BusyLoad(2) as load:
        pids = [proc.pid for proc in load.procs]
        assert len(pids) == 2

        def niced() -> bool:
            return all(
                Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16] == "19"
                for pid in pids
            )

        wait_until(niced, "the busy loops to lower their priority")
        assert not any(is_gone(pid) for pid in pids)
    assert all(is_gone(pid) for pid in pids)
    assert load.procs == []


def test_a_pass_records_the_load(run: ModuleType) -> None:
    probe = run.LoadProbe()
    sum(i * i for i in range(200_000))  # some CPU time, so the counters move
    found = probe.finish()
    assert len(found["load_before"]) == 3
    assert len(found["load_after"]) == 3
    assert 0 <= found["cpu_busy_pct"] <= 100


def test_an_earlier_results_file_is_read_and_printed(run: ModuleType) -> None:
    old = json.loads((BENCH / "results" / "20261124T040020Z.json").read_text())
    assert "conditions" not in old
    document = run.upgrade(old)
    systems = document["conditions"]["idle"]["systems"]
    assert systems["conveyor-sqlite"]["store"] == "sqlite"
    assert systems["huey"]["store"] == "redis"
    lines: list[str] = []
    run.print_document(document, lines.append)
    text = "\n".join(lines)
    # The median of the old run's three drains, with their range, as the old file had it.
    drains = sorted(r["drain_1"]["rate"] for r in old["systems"]["conveyor-redis"]["runs"])
    assert f"{drains[1]:,.0f} [{drains[0]:,.0f}-{drains[2]:,.0f}]" in text
    assert "| **conveyor (Redis)** |" in text


def test_the_pass_order_is_shuffled_and_repeatable(run: ModuleType) -> None:
    import random

    systems = [f"s{i}" for i in range(8)]
    first = [run.pass_order(systems, n, random.Random(7)) for n in range(1, 4)]
    again = [run.pass_order(systems, n, random.Random(7)) for n in range(1, 4)]
    assert first == again
    assert all(sorted(order) == systems for order in first)
    rng = random.Random(7)
    orders = {tuple(run.pass_order(systems, n, rng)) for n in range(1, 6)}
    assert len(orders) > 1, "every pass in the same order"


def test_cpu_times_grow(run: ModuleType) -> None:
    """Busy and total jiffies grow while this process spins (they tick every 10 ms, and the
    kernel's iowait may even step back, so the test spins until a tick shows, with a deadline)."""
    first = run._cpu_times()
    assert first is not None
    deadline = time.monotonic() + 10.0
    second = first
    while time.monotonic() < deadline:
        sum(i * i for i in range(50_000))
        second = run._cpu_times()
        assert second is not None
        if second[0] > first[0] and second[1] > first[1]:
            break
    assert second[1] > first[1]
    assert second[0] > first[0]


class _Recorded:
    """A system and a store for ``Bench`` that note what the harness asks of them, in order.

    Stand-ins for a library and its Redis database, which are not under test here: what is
    under test is the harness's order of steps around a timed enqueue.
    """

    bulk_api = "the test's own"

    def __init__(self) -> None:
        self.steps: list[str] = []

    def flush(self) -> None:
        self.steps.append("flush")

    def reset(self) -> None:
        self.steps.append("reset")

    def warm(self) -> None:
        self.steps.append("warm")

    def enqueue_incr(self) -> None:
        self.steps.append("enqueue, collector on" if gc.isenabled() else "enqueue")

    def enqueue_incr_many(self, count: int) -> None:
        self.steps.append(f"{count} at once" + (", collector on" if gc.isenabled() else ""))


def a_bench(run: ModuleType, tmp_path: Path, store: object) -> Any:
    settings = run.Settings(
        runs=1,
        enqueue_jobs=3,
        drain_jobs=10,
        batch=2,
        latency_samples=1,
        latency_gap=(0.0, 0.0),
        startup_timeout=1.0,
        quick=True,
        conditions=["idle"],
        seed=1,
    )
    return run.Bench(settings, store, tmp_path)


def test_a_timed_enqueue_finds_the_producer_connected_and_the_collector_paused(
    run: ModuleType, tmp_path: Path
) -> None:
    recorded = _Recorded()
    bench = a_bench(run, tmp_path, recorded)
    assert bench.enqueue(recorded) > 0
    assert recorded.steps == ["flush", "reset", "warm", "enqueue", "enqueue", "enqueue"]
    assert gc.isenabled()  # on again after the timing
    recorded.steps.clear()
    assert bench.enqueue_bulk(recorded) > 0
    assert recorded.steps == ["flush", "reset", "warm", "2 at once", "1 at once"]
    assert gc.isenabled()


def test_schedstat_reads_a_process_counters_and_none_once_it_is_gone() -> None:
    """bench/schedstat.py's reading of /proc: the CPU a process used grows while it spins,
    its counters are all there, and a process that has gone reads as None."""
    spec = importlib.util.spec_from_file_location("bench_schedstat", BENCH / "schedstat.py")
    assert spec is not None
    assert spec.loader is not None
    schedstat = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(schedstat)
    first = schedstat.sample(os.getpid())
    assert first is not None
    assert set(first) == {"cpu", "user", "system", "waiting", "voluntary", "involuntary"}
    deadline = time.monotonic() + 10.0
    second = first
    while time.monotonic() < deadline and second["cpu"] <= first["cpu"]:
        sum(i * i for i in range(50_000))
        second = schedstat.sample(os.getpid())
        assert second is not None
    assert second["cpu"] > first["cpu"]
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert schedstat.sample(gone.pid) is None
