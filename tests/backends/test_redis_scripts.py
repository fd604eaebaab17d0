"""Every Redis script is all or nothing: a bad argument late in a batch changes nothing.

Redis never rolls a Lua script back: a command that fails partway leaves the
writes before it. So each script checks every argument before its first
write. These tests call the scripts directly, past the backend's own checks,
with a batch whose last item is bad, and show the store unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conveyor.backends import open_backend
from conveyor.backends.base import Backend, Completion, JobState
from conveyor.backends.periodic import PeriodicDeclaration
from conveyor.testing.conformance.support import LEASE, NOW, QUEUE, WORKER, new_job

redis = pytest.importorskip("redis")


@pytest.fixture
def backend(redis_url: str) -> Iterator[Any]:
    store = open_backend(redis_url)
    yield store
    store.close()


def started(backend: Backend, count: int) -> list[tuple[str, str]]:
    """``count`` jobs enqueued and claimed: their ids and lease tokens."""
    backend.enqueue([new_job(f"job-{n}") for n in range(count)], now=NOW)
    claimed = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=count)
    return [(record.id, record.lease_token or "") for record in claimed]


def snapshot(backend: Any) -> dict[bytes, Any]:
    """Every key of the backend's namespace and its value, to compare before and after."""
    client = backend._redis
    values: dict[bytes, Any] = {}
    for key in sorted(client.scan_iter(match=f"{backend.ns}:*")):
        kind = client.type(key)
        if kind == b"hash":
            values[key] = client.hgetall(key)
        elif kind == b"zset":
            values[key] = client.zrange(key, 0, -1, withscores=True)
        elif kind == b"list":
            values[key] = client.lrange(key, 0, -1)
        elif kind == b"set":
            values[key] = sorted(client.smembers(key))
        else:
            values[key] = client.get(key)
        values[key] = (values[key], client.pttl(key))
    return values


def run(backend: Any, name: str, args: list[Any]) -> Any:
    return backend._scripts[name](args=[backend.ns, *args])


def completion_args(leases: list[tuple[str, str]], last: list[Any]) -> list[Any]:
    args: list[Any] = [NOW, len(leases)]
    for job_id, token in leases[:-1]:
        args += [job_id, token, "finished", "1", b"7", "", NOW, "", ""]
    return args + last


@pytest.mark.parametrize(
    ("why", "last"),
    [
        ("a state no outcome has", ["started", "1", b"7", "", NOW, "", ""]),
        ("a run_at that is no number", ["scheduled", "0", b"", "", "soon", "", ""]),
        ("a started_at that is no number", ["failed", "0", b"", "", NOW, "noon", ""]),
        ("a batch shorter than its count", []),
    ],
)
def test_complete_with_a_bad_last_outcome_changes_nothing(
    backend: Any, why: str, last: list[Any]
) -> None:
    leases = started(backend, 3)
    job_id, token = leases[-1]
    if last:
        last = [job_id, token, *last]
    before = snapshot(backend)
    with pytest.raises(redis.ResponseError, match="conveyor: "):
        run(backend, "complete", completion_args(leases, last))
    assert snapshot(backend) == before, why


def test_a_stored_retention_too_long_for_pexpire_never_breaks_a_batch(backend: Any) -> None:
    """Finding 1 of issue 15: a record holding a TTL that PEXPIRE cannot take (written by
    an older version, or straight to Redis) is kept until deleted; the batch completes whole."""
    leases = started(backend, 3)
    backend._redis.hset(f"{backend.ns}:job:{leases[1][0]}", "result_ttl", str(10**16))
    done = [Completion(job_id, token, JobState.FINISHED) for job_id, token in leases]
    assert backend.complete(done, now=NOW + 1) == [True, True, True]
    for job_id, _ in leases:
        record = backend.get(job_id)
        assert record is not None
        assert (record.state, record.lease_token) == (JobState.FINISHED, None)
    assert backend._redis.zcard(f"{backend.ns}:leases") == 0
    assert backend._redis.pttl(f"{backend.ns}:job:{leases[1][0]}") == -1  # kept
    assert backend._redis.pttl(f"{backend.ns}:job:{leases[0][0]}") > 0


@pytest.mark.parametrize(
    ("why", "bad"),
    [
        ("a run_at that is no number", {2: "tomorrow"}),
        ("a timeout that is no number", {6: "long"}),
        ("a result_ttl that is no number", {8: "a day"}),
        ("an optional field count that is no number", {11: "x"}),
    ],
)
def test_enqueue_with_a_bad_last_job_stores_nothing(
    backend: Any, why: str, bad: dict[int, Any]
) -> None:
    args = backend._enqueue_args([new_job("job-0"), new_job("job-1")], NOW)
    size = (len(args) - 2) // 2  # the two jobs' arguments are the same length
    for offset, value in bad.items():
        args[2 + size + offset] = value
    before = snapshot(backend)
    with pytest.raises(redis.ResponseError, match="conveyor: "):
        run(backend, "enqueue", args)
    assert snapshot(backend) == before, why


@pytest.mark.parametrize(
    ("why", "args"),
    [
        ("an expiry that is no number", lambda leases: [NOW, "later", 2, *sum(leases, ())]),
        ("a batch shorter than its count", lambda leases: [NOW, NOW + 60, 3, *sum(leases, ())]),
    ],
)
def test_extend_with_a_bad_argument_changes_nothing(backend: Any, why: str, args: Any) -> None:
    leases = started(backend, 2)
    before = snapshot(backend)
    with pytest.raises(redis.ResponseError, match="conveyor: "):
        run(backend, "extend", args(leases))
    assert snapshot(backend) == before, why


# -- the other scripts: each checks its arguments before its first write -----------------------
PERIODIC = "conveyor:conformance:nightly"


@pytest.fixture
def busy(backend: Any) -> Any:
    """A store with some of everything: started, queued and due scheduled jobs, a periodic job."""
    started(backend, 2)
    backend.enqueue([new_job("queued-1"), new_job("due-1", run_at=NOW - 10)], now=NOW)
    backend.declare_periodic(
        [PeriodicDeclaration(PERIODIC, "every 60", "UTC", "m:f", QUEUE, NOW - 60)], now=NOW
    )
    return backend


def _claim_without_a_token_base(backend: Any) -> list[Any]:
    # No lease token base after the queue: the due job would be promoted, then the claim fail.
    return [WORKER, NOW + 60, NOW, 2, 1, QUEUE]


def _declare_short(backend: Any) -> list[Any]:
    entry = ["conveyor:conformance:other", "every 5", "UTC", "m:g", QUEUE, NOW]
    return [NOW, 2, *entry]


def _take_with_a_bad_job(backend: Any) -> list[Any]:
    args = backend._enqueue_args([new_job("tick-job")], NOW)
    args[2 + 2] = "tomorrow"  # its placement: no time
    return [*args, PERIODIC, NOW, "tick-job"]


@pytest.mark.parametrize(
    ("script", "args"),
    [
        ("claim", _claim_without_a_token_base),
        ("recover", lambda backend: ["soon", 10]),
        ("purge", lambda backend: ["soon", 10]),
        ("clear", lambda backend: [QUEUE, "all"]),
        ("requeue", lambda backend: ["now-ish", "job-0"]),
        ("cancel", lambda backend: ["now-ish", "job-0"]),
        ("run_now", lambda backend: ["now-ish", "due-1"]),
        ("periodic_declare", _declare_short),
        ("periodic_enable", lambda backend: [PERIODIC, "maybe"]),
        ("periodic_take", _take_with_a_bad_job),
    ],
)
def test_a_script_with_a_bad_argument_fails_before_any_write(
    busy: Any, script: str, args: Callable[[Any], list[Any]]
) -> None:
    before = snapshot(busy)
    with pytest.raises(redis.ResponseError, match="conveyor: "):
        run(busy, script, args(busy))
    assert snapshot(busy) == before


def test_stored_values_no_script_can_use_never_break_recover_or_cancel(backend: Any) -> None:
    """A record written by an older version or by hand: recovered and canceled whole."""
    leases = started(backend, 3)
    client, ns = backend._redis, backend.ns
    client.hset(f"{ns}:job:{leases[0][0]}", "attempts", "many")
    client.hset(f"{ns}:job:{leases[1][0]}", mapping={"max_attempts": "1", "failure_ttl": 10**16})
    recovered = backend.recover(now=NOW + LEASE + 1)
    assert sorted(r.job_id for r in recovered) == sorted(job_id for job_id, _ in leases)
    assert client.zcard(f"{ns}:leases") == 0
    assert client.pttl(f"{ns}:job:{leases[1][0]}") == -1  # failed, kept (no PEXPIRE)
    backend.enqueue([new_job("to-cancel")], now=NOW)
    (claimed,) = backend.claim([QUEUE], worker=WORKER, lease=LEASE, now=NOW, limit=1)
    client.hset(f"{ns}:job:{claimed.id}", "failure_ttl", 10**16)
    assert backend.cancel(claimed.id, now=NOW) is not None
    record = backend.get(claimed.id)
    assert record is not None
    assert record.state is JobState.CANCELED
    assert client.pttl(f"{ns}:job:{claimed.id}") == -1
