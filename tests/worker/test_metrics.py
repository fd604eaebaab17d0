"""Prometheus metrics: a worker's counters and the store's gauges, scraped during a run."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterable
from pathlib import Path

import prometheus_client  # the dev extra holds the metrics extra's client
import pytest
from prometheus_client.parser import text_string_to_metric_families

import conveyor
import conveyor_test_jobs
from conveyor import JobState, metrics
from conveyor.web import auth, create_app
from support import StartWorker, free_port, state_of, wait_until

SUCCEED = "conveyor_test_jobs:succeed"
FAIL = "conveyor_test_jobs:failing_job"
SLEEP = "conveyor_test_jobs:sleep_for"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, by name and labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, frozenset(sample.labels.items())] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def total(found: Samples, name: str) -> float:
    return sum(v for (n, _), v in found.items() if n == name)


@pytest.fixture(params=["sqlite", "redis", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/metrics.sqlite3"
    return str(request.getfixturevalue(f"{request.param}_url"))


def ended(jobs: Iterable[conveyor.Job]) -> bool:
    return all(state_of(job) in {JobState.FINISHED, JobState.FAILED} for job in jobs)


def test_the_counters_match_the_jobs_processed(
    store_url: str,
    conveyor_env: conveyor.Config,
    subprocess_env: dict[str, str],
    start_worker: StartWorker,
) -> None:
    conveyor.configure(
        settings={"conveyor.backend": store_url, "conveyor.site_id": conveyor_env.site_id}
    )
    jobs = [conveyor.enqueue(conveyor_test_jobs.succeed) for _ in range(3)]
    jobs += [conveyor.enqueue(conveyor_test_jobs.failing_job, queue="other") for _ in range(2)]
    jobs.append(
        conveyor.enqueue(
            conveyor_test_jobs.failing_job, queue="other", retry=conveyor.Retry(max=1)
        )
    )
    jobs.append(conveyor.enqueue(conveyor_test_jobs.sleep_for, [60], timeout=1))
    conveyor.queue_pause("held")
    held = conveyor.enqueue(conveyor_test_jobs.succeed, queue="held")
    port = free_port()
    env = {**subprocess_env, "CONVEYOR_BACKEND": store_url}
    worker = start_worker("--metrics-port", str(port), "default", "other", "held", env=env)
    try:
        wait_until(lambda: ended(jobs), "every job to end")
        worker.wait_for_log("has started")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            scraped = samples(answer.read().decode())
        client = create_app().test_client()
        refused = client.get("/metrics")
        token = auth.create_token("prometheus", read_only=True)[1]
        store = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    finally:
        worker.stop()
    # The worker's own counters, by queue and function.
    finished = "conveyor_jobs_finished_total"
    assert value(scraped, finished, queue="default", function=SUCCEED) == 3
    assert total(scraped, finished) == 3
    assert value(scraped, "conveyor_jobs_failed_total", queue="other", function=FAIL) == 3
    assert value(scraped, "conveyor_jobs_failed_total", queue="default", function=SLEEP) == 1
    assert value(scraped, "conveyor_jobs_retried_total", queue="other", function=FAIL) == 1
    assert value(scraped, "conveyor_jobs_timed_out_total", queue="default", function=SLEEP) == 1
    assert total(scraped, "conveyor_jobs_timed_out_total") == 1
    assert total(scraped, "conveyor_jobs_started_total") == 8  # 7 jobs, one tried twice
    assert total(scraped, "conveyor_job_wait_seconds_count") == 8
    assert total(scraped, "conveyor_job_duration_seconds_count") == 8
    assert (
        value(scraped, "conveyor_job_duration_seconds_count", queue="default", function=SLEEP) == 1
    )
    # The store's gauges, as conveyor serve's /metrics gives them.
    assert refused.status_code == 403
    assert store.status_code == 200
    gauges = samples(store.get_data(as_text=True))
    depth = "conveyor_queue_jobs"
    assert value(gauges, depth, queue="default", state="finished") == 3
    assert value(gauges, depth, queue="default", state="failed") == 1
    assert value(gauges, depth, queue="other", state="failed") == 3
    assert value(gauges, depth, queue="held", state="queued") == 1
    assert value(gauges, "conveyor_queue_paused", queue="held") == 1
    assert value(gauges, "conveyor_queue_oldest_job_age_seconds", queue="held") >= 0
    assert (
        "conveyor_queue_oldest_job_age_seconds",
        frozenset({("queue", "default")}),
    ) not in gauges
    assert sum(v for (n, _), v in gauges.items() if n == "conveyor_workers") == 1
    assert state_of(held) is JobState.QUEUED


def test_count_enqueues_counts_this_process_enqueues() -> None:
    registry = prometheus_client.CollectorRegistry()
    counter = metrics.count_enqueues(registry)
    before = registry.get_sample_value(
        "conveyor_jobs_enqueued_total", {"queue": "emails", "function": SUCCEED}
    )
    conveyor.enqueue(conveyor_test_jobs.succeed, queue="emails")
    conveyor.enqueue_many([{"fn": conveyor_test_jobs.succeed, "queue": "emails"}] * 2)
    after = registry.get_sample_value(
        "conveyor_jobs_enqueued_total", {"queue": "emails", "function": SUCCEED}
    )
    assert (before or 0.0) + 3 == after
    assert metrics.count_enqueues(registry) is counter
