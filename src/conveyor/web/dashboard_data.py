"""What the dashboard's pages show, gathered from the store through conveyor.manage.

Throughput and wait-time charts come from the per-minute statistics the
store keeps as jobs end (``Backend.stats``, kept 48 hours), whatever the
retention of the job records and however many jobs ended.

Filtering jobs by function or searching ids and titles looks at a window of
at most :data:`FILTER_SCAN` jobs of the chosen state, in the store's order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from conveyor import config as _config
from conveyor import manage
from conveyor.api import backend
from conveyor.backends.base import JobRecord, JobState, MinuteStats

FILTER_SCAN = 2000
PAGE_SIZE = 25
CHART_WIDTH = 480.0  # SVG user units; both charts share it
STATES = tuple(state.value for state in JobState)


@dataclass(frozen=True)
class Bar:
    """One bucket of a chart, with its SVG geometry."""

    x: float
    label: str
    finished: int
    failed: int
    wait: float | None
    h_finished: float
    h_failed: float
    h_wait: float


@dataclass(frozen=True)
class Chart:
    title: str
    bars: list[Bar]
    width: float
    bar_width: float
    max_count: int
    max_wait: float


def charts(now: float | None = None) -> list[Chart]:
    """Finished and failed per bucket, and mean wait, over the last hour and the last day.

    Read from the per-minute statistics the store keeps as jobs end
    (:meth:`~conveyor.backends.base.Backend.stats`), never from job records.
    """
    now = time.time() if now is None else now
    config = _config.current()
    minutes = backend(config).stats(config.queue_prefix, since=now - 86_400, until=now)
    return [
        _chart("Last hour, per minute", minutes, now, 60, 60),
        _chart("Last day, per hour", minutes, now, 3600, 24),
    ]


def _chart(title: str, minutes: list[MinuteStats], now: float, step: int, count: int) -> Chart:
    start = (int(now) // step + 1 - count) * step
    done = [0] * count
    bad = [0] * count
    wait_sums = [0.0] * count
    wait_counts = [0] * count
    for entry in minutes:
        if entry.minute < start:
            continue
        index = min((entry.minute - start) // step, count - 1)
        done[index] += entry.finished
        bad[index] += entry.failed
        wait_sums[index] += entry.wait_sum
        wait_counts[index] += entry.wait_count
    top = max([1, *(a + b for a, b in zip(done, bad, strict=True))])
    means = [total / n if n else None for total, n in zip(wait_sums, wait_counts, strict=True)]
    top_wait = max([0.001, *(m for m in means if m is not None)])
    width = CHART_WIDTH / count
    bars = []
    for index in range(count):
        label = time.strftime("%H:%M", time.gmtime(start + index * step))
        mean = means[index]
        bars.append(
            Bar(
                x=round(index * width, 2),
                label=label,
                finished=done[index],
                failed=bad[index],
                wait=mean,
                h_finished=round(45.0 * done[index] / top, 2),
                h_failed=round(45.0 * bad[index] / top, 2),
                h_wait=0.0 if mean is None else round(34.0 * mean / top_wait, 2),
            )
        )
    return Chart(title, bars, CHART_WIDTH, round(width * 0.8, 2), top, top_wait)


def overview() -> dict[str, Any]:
    """Queues with their counts and oldest waiting job, and the workers by state."""
    config = _config.current()
    now = time.time()
    queues = manage.queue_list()
    store = backend(config)
    for queue in queues:
        page = store.list_jobs([config.queue_prefix + queue["name"]], limit=1)
        oldest = page.items[0].enqueued_at if page.items else None
        queue["oldest_age"] = None if oldest is None else max(0.0, now - oldest)
        queue["paused"] = queue["name"] in paused()
    workers = manage.worker_list()
    ages = [q["oldest_age"] for q in queues if q["oldest_age"] is not None]
    return {
        "queues": queues,
        "busy": sum(1 for w in workers if w["state"] == "busy"),
        "idle": sum(1 for w in workers if w["state"] == "idle"),
        "workers": len(workers),
        "oldest_age": max(ages) if ages else None,
    }


def paused() -> set[str]:
    """Paused queues, if this conveyor can pause queues; else none."""
    fn = getattr(manage, "paused_queues", None)
    if fn is None:
        return set()
    return {str(name) for name in fn()}


@dataclass(frozen=True)
class JobQuery:
    """A jobs page's filters, as its query string gives them."""

    state: str = "queued"
    queue: str = ""
    func: str = ""
    search: str = ""
    page: int = 1
    sort: str = "store"  # the store's order, "newest" or "oldest" (by creation)

    @classmethod
    def from_args(cls, args: Any) -> JobQuery:
        state = args.get("state", "queued")
        sort = args.get("sort", "store")
        try:
            page = max(1, min(int(args.get("page", "1")), 100_000))
        except ValueError:
            page = 1
        return cls(
            state=state if state in STATES else "queued",
            queue=args.get("queue", "")[:200],
            func=args.get("func", "")[:300],
            search=args.get("q", "")[:200],
            page=page,
            sort=sort if sort in {"store", "newest", "oldest"} else "store",
        )

    @property
    def filtered(self) -> bool:
        return bool(self.func or self.search or self.sort != "store")


def _matches(record: JobRecord, query: JobQuery) -> bool:
    if query.func and query.func not in record.func:
        return False
    if query.search:
        needle = query.search.lower()
        return needle == record.id.lower() or needle in (record.title or "").lower()
    return True


def jobs(query: JobQuery) -> tuple[list[JobRecord], int, bool]:
    """One page of jobs, the number matching, and whether the scan bound was reached."""
    config = _config.current()
    store = backend(config)
    if query.queue:
        names = [config.queue_prefix + query.queue]
    else:
        names = store.queue_names(config.queue_prefix)
    if not names:
        return [], 0, False
    state = [JobState(query.state)]
    offset = (query.page - 1) * PAGE_SIZE
    if not query.filtered:
        page = store.list_jobs(names, states=state, offset=offset, limit=PAGE_SIZE)
        return list(page.items), page.total, False
    window = store.list_jobs(names, states=state, limit=FILTER_SCAN)
    found = [record for record in window.items if _matches(record, query)]
    if query.sort != "store":
        found.sort(key=lambda r: r.created_at, reverse=query.sort == "newest")
    return found[offset : offset + PAGE_SIZE], len(found), window.total > FILTER_SCAN
