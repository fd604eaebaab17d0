"""Prometheus metrics (the ``metrics`` extra: ``pip install 'conveyor[metrics]'``).

Two sources, as docs/metrics.md explains:

- :class:`WorkerMetrics`: what a worker did (jobs started, finished, failed,
  retried, timed out; durations and waits; lease recoveries), counted by the
  worker's supervisor process, which records every outcome of its children:
  one process per worker, however many children, so nothing needs
  prometheus_client's multiprocess mode. ``conveyor jobs worker
  --metrics-port N`` serves them.
- :class:`StoreCollector`: what the store holds now (jobs by queue and
  state, the oldest waiting job, workers by state, paused queues), read from
  the store at each scrape. ``conveyor serve`` serves it at ``/metrics``.

:func:`count_enqueues` counts the jobs a process enqueues, for an
application's own ``/metrics``.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterator
from typing import TYPE_CHECKING

from conveyor import api
from conveyor import config as _config
from conveyor.api import backend
from conveyor.backends import JobState
from conveyor.exceptions import ConfigError, extra_needed

try:
    from prometheus_client import (
        REGISTRY,
        CollectorRegistry,
        Counter,
        Histogram,
        start_http_server,
    )
    from prometheus_client.core import GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - the extra is installed in development
    raise ImportError(extra_needed("conveyor.metrics", "metrics")) from exc

if TYPE_CHECKING:
    from conveyor.backends import JobRecord

__all__ = ["StoreCollector", "WorkerMetrics", "count_enqueues", "serve_worker_metrics"]

_LABELS = ("queue", "function")
# Job durations and waits run from milliseconds to hours.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


def _short(queue: str, prefix: str) -> str:
    return queue[len(prefix) :] if queue.startswith(prefix) else queue


class WorkerMetrics:
    """The counters and histograms of one worker, kept by its supervisor."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.prefix = _config.current().queue_prefix
        reg = self.registry

        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, _LABELS, registry=reg)

        self.started_total = counter("conveyor_jobs_started", "Attempts started.")
        self.finished_total = counter("conveyor_jobs_finished", "Jobs finished.")
        self.failed_total = counter("conveyor_jobs_failed", "Jobs failed for good.")
        self.retried_total = counter("conveyor_jobs_retried", "Attempts failed and retried.")
        self.timed_out_total = counter("conveyor_jobs_timed_out", "Jobs that timed out.")
        self.recoveries_total = Counter(
            "conveyor_lease_recoveries",
            "Jobs taken back from a lost worker (lease expired) by this worker.",
            ("queue",),
            registry=reg,
        )
        self.duration = Histogram(
            "conveyor_job_duration_seconds",
            "How long attempts ran.",
            _LABELS,
            buckets=_BUCKETS,
            registry=reg,
        )
        self.wait = Histogram(
            "conveyor_job_wait_seconds",
            "How long jobs waited from enqueued (or due) to started.",
            _LABELS,
            buckets=_BUCKETS,
            registry=reg,
        )

    def _labels(self, record: JobRecord) -> tuple[str, str]:
        return _short(record.queue, self.prefix), record.func

    def started(self, record: JobRecord) -> None:
        labels = self._labels(record)
        self.started_total.labels(*labels).inc()
        since = max(record.enqueued_at, record.run_at or 0.0)
        self.wait.labels(*labels).observe(max(0.0, time.time() - since))

    def ended(self, record: JobRecord, outcome: str, duration: float) -> None:
        """``outcome``: "finished", "failed", "retried" or "timed_out" (also counted failed)."""
        labels = self._labels(record)
        if outcome == "timed_out":  # then ended(record, "failed", ...) counts it, and its time
            self.timed_out_total.labels(*labels).inc()
            return
        self.duration.labels(*labels).observe(max(0.0, duration))
        counter = {"finished": self.finished_total, "retried": self.retried_total}.get(outcome)
        (counter or self.failed_total).labels(*labels).inc()

    def recovered(self, queue: str) -> None:
        self.recoveries_total.labels(_short(queue, self.prefix)).inc()


def serve_worker_metrics(metrics: WorkerMetrics, port: int, addr: str = "127.0.0.1") -> None:
    """Serve ``metrics`` at ``http://addr:port/metrics`` from a daemon thread."""
    if not 0 < port < 65536:
        raise ConfigError(f"The metrics port must be 1-65535, not {port}")
    try:
        start_http_server(port, addr=addr, registry=metrics.registry)
    except OSError as exc:
        raise ConfigError(f"Cannot serve metrics on {addr}:{port}: {exc}") from None


class StoreCollector(Collector):
    """Gauges read from the store at each scrape (one site: the configured one)."""

    def __init__(self, config: _config.Config | None = None) -> None:
        self.config = config

    def collect(self) -> Iterator[Metric]:
        config = self.config or _config.current()
        store = backend(config)
        prefix = config.queue_prefix
        names = store.queue_names(prefix)
        counts = store.count(names)
        depth = GaugeMetricFamily(
            "conveyor_queue_jobs",
            "Jobs in the store by queue and state.",
            labels=["queue", "state"],
        )
        oldest = GaugeMetricFamily(
            "conveyor_queue_oldest_job_age_seconds",
            "Age of the job at the front of each queue that has queued jobs.",
            labels=["queue"],
        )
        now = time.time()
        for name in names:
            for state in JobState:
                depth.add_metric([_short(name, prefix), state.value], counts[name].get(state, 0))
            if counts[name].get(JobState.QUEUED, 0):
                front = store.list_jobs([name], states=[JobState.QUEUED], limit=1).items
                if front:
                    since = max(front[0].enqueued_at, front[0].run_at or 0.0)
                    oldest.add_metric([_short(name, prefix)], max(0.0, now - since))
        yield depth
        yield oldest
        workers = GaugeMetricFamily("conveyor_workers", "Live workers by state.", labels=["state"])
        tally = Tally(info.state for info in store.workers(prefix, now=now))
        for worker_state in ("idle", "busy", "quiet", "stopping"):
            workers.add_metric([worker_state], tally.get(worker_state, 0))
        yield workers
        paused = GaugeMetricFamily(
            "conveyor_queue_paused", "1 for each paused queue.", labels=["queue"]
        )
        for name in store.paused_queues(prefix):
            paused.add_metric([_short(name, prefix)], 1)
        yield paused


_enqueued: dict[str, Counter] = {}  # the one counter, once count_enqueues() made it


def count_enqueues(registry: CollectorRegistry | None = None) -> Counter:
    """Count the jobs this process enqueues, as ``conveyor_jobs_enqueued_total``.

    For an application's own ``/metrics`` (``registry`` defaults to
    prometheus_client's global one). Calling it again returns the same counter.
    """
    if "counter" not in _enqueued:
        _enqueued["counter"] = Counter(
            "conveyor_jobs_enqueued",
            "Jobs enqueued by this process.",
            _LABELS,
            registry=REGISTRY if registry is None else registry,
        )
        api.enqueue_hooks.append(_count_enqueued)
    return _enqueued["counter"]


def _count_enqueued(queue: str, func: str) -> None:
    prefix = _config.current().queue_prefix
    _enqueued["counter"].labels(_short(queue, prefix), func).inc()
