"""Redis: one store for workers on many machines.

Requires Redis 6.2 or newer, a single server or a primary (not Redis
Cluster), and the ``redis`` extra. This docstring is the one description of
the store's layout; docs/ARCHITECTURE.md links here.

Every state change is one Lua script (kept in ``lua/``: ``common.lua``, the
key names and shared helpers, is prepended to each), so a change is atomic
however many clients race, with no ``WATCH``/``MULTI`` retry loop. Scripts
are registered once and sent as raw ``EVALSHA`` commands; a server that
forgot them (it restarted) answers ``NOSCRIPT``, and only the refused
commands are sent again after loading (:meth:`RedisBackend._pipelined`).

Keys, all under the namespace ``<ns>`` (``conveyor``, or ``?namespace=NAME``
on the URL, so independent installations can share one database).
``<queue>`` is the full queue name, site prefix included:

- ``job:<id>`` (hash): the job record, fields in the fixed order
  :data:`RECORD_FIELDS` (also declared in ``common.lua``) so that reads use
  ``HMGET`` and no field names travel with each record; ``options`` is
  written only when the job has worker-only options;
- ``queued:<queue>`` (sorted set): queued jobs by position (claim order);
  ``scheduled:<queue>``: delayed jobs and retries by due time;
  ``started:<queue>``: running and claimed-ahead jobs by start time;
  ``ended:<state>:<queue>``: finished, failed or canceled jobs by end time;
- ``leases`` (sorted set): running jobs by lease expiry (what ``recover``
  reads); ``expiry`` (sorted set): ended records by purge time (their hashes
  also carry a Redis TTL, so storage stays bounded with no worker running);
- ``queues:<site prefix>`` (set): a site's queue names;
- ``wake:<queue>`` (list): at most one wake-up token; idle workers ``BLPOP``
  on it, so a claim starts within a round trip of an enqueue, and a claim
  that leaves jobs behind passes the token on;
- ``waiting:<worker key>`` (string, 60 s TTL): the server's clock when that
  worker's claim found nothing; the claim sent after the ``BLPOP`` moves the
  client's time on by what the server saw pass, so no two machines' clocks
  are mixed;
- ``worker:<worker key>`` (string, with a TTL): a worker's registration
  as JSON; ``workers:<site prefix>`` (sorted set): a site's workers by
  registration expiry;
- ``paused-queues`` (set): full names of paused queues;
  ``worker-command:<worker key>`` (string, expires after a day): ``quiet`` or ``stop``
  for one worker (see :mod:`conveyor.backends.control`);
- ``tokens`` (hash): web API tokens (hashes only), one JSON field per
  ``<site_id>:<name>``;
- ``periodic:<name>`` (hash), ``periodic-names`` (set): periodic-job
  entries and their names (see :mod:`.periodic`);
- ``stats:<site prefix><hour>`` (hash, expires ``STATS_RETENTION`` seconds
  after its last write): what ended in the site's queues in that hour (epoch
  seconds // 3600), one field per queue, minute and counter, for the
  dashboard's charts; written by the scripts that end jobs;
- ``waiters`` (sorted set): processes in ``wait_ended()``, by expiry; while
  it is not empty, a completion batch that ended jobs publishes one message
  on the channel ``ended``;
- ``version`` (string): the data layout's version (:data:`LAYOUT_VERSION`),
  checked when a backend opens. A namespace holding ``conveyor`` keys but no
  ``version`` was written before the key existed and counts as version 1; a
  newer version than the code's is refused with StoreVersionError. Version 2
  added a job hash's optional ``options`` field, version 3 the periodic-job
  keys; older stores simply lack them and are read as they are. The control
  keys (``paused-queues``, ``worker-command:*``) and the statistics came
  without a bump, for the same reason.

How the hot paths stay cheap:

- ``enqueue`` costs one ``HGET`` and one ``HSET`` per job; each queue's
  end is read once per call, its index gets one ``ZADD`` per batch, and the
  site's queue set and the wake token one call per queue. Each job's values
  go to the script by position, optional fields as counted pairs.
- Index changes in ``claim``, ``complete``, ``recover`` and ``cancel`` are
  gathered (``common.lua``'s ``add_later``/``remove_later``) and sent as one
  ``ZREM`` and one ``ZADD`` per key at the end of the script.
- ``complete_and_claim`` sends the ``complete`` and ``claim`` scripts in one
  pipeline; a waiting claim sends ``BLPOP`` and the claim script together,
  so the server claims the moment the wait ends.
- Each thread keeps one connection and writes packed commands (hiredis's
  packer when installed) straight onto it, without redis-py's ``Pipeline``
  and ``Script`` objects, which cost more client CPU than the round trip.

Listing, counting and clearing touch only the queue's own keys, never
``KEYS``/``SCAN`` (the one ``SCAN`` is at the first open of a namespace
without ``version``). Connection errors and timeouts become
BackendUnavailable, other Redis errors BackendError.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import redis
from redis.commands.core import Script

from conveyor.backends.base import (
    ENDED_STATES,
    ApiToken,
    Backend,
    Completion,
    ErrorInfo,
    JobRecord,
    JobState,
    MinuteStats,
    NewJob,
    Page,
    Recovery,
    WorkerInfo,
    assemble,
    check_completions,
    check_new_jobs,
    lease_tokens,
    minute_of,
    page_across,
    split_queue_name,
)
from conveyor.backends.control import COMMAND_TTL, STOP, WorkerControl
from conveyor.backends.periodic import PeriodicDeclaration, PeriodicEntry
from conveyor.backends.redis import periodic
from conveyor.backends.urls import check_url, pop_url_option, redact
from conveyor.exceptions import (
    BackendError,
    BackendUnavailable,
    ConfigError,
    DuplicateJobError,
    DuplicateTokenError,
    JobStateError,
    StoreVersionError,
)

_pack_hiredis: Callable[[tuple[Any, ...]], bytes] | None
try:  # the C packer behind redis-py's own, called directly (installed with the redis extra)
    from hiredis import pack_command as _pack_hiredis
except ImportError:  # pragma: no cover - redis-py packs in Python instead
    _pack_hiredis = None

NAMESPACE = "conveyor"
#: The version of the data layout this code writes and expects; a change to it
#: is a new number here and, if stored data must move, a step in _check_layout().
LAYOUT_VERSION = 3
# Raise the stored layout version to ARGV[1] unless it is there or beyond (a
# newer conveyor may have raised it meanwhile); the version found, 0 for none.
_RAISE_VERSION = """
local found = tonumber(redis.call('GET', KEYS[1]) or '0')
if found < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return found
"""
_BATCH = 500
_SCRIPTS = (
    "enqueue",
    "claim",
    "complete",
    "extend",
    "recover",
    "purge",
    "cancel",
    "delete",
    "clear",
    "requeue",
    "save_meta",  # issue 16
    "run_now",
)
#: The hash fields of a job record, in the order the scripts return them
#: (RECORD_FIELDS in lua/common.lua must match).
RECORD_FIELDS = (
    "id",
    "queue",
    "func",
    "payload",
    "state",
    "created_at",
    "enqueued_at",
    "timeout",
    "title",
    "description",
    "meta",
    "result_ttl",
    "failure_ttl",
    "max_attempts",
    "retry",
    "attempts",
    "run_at",
    "started_at",
    "ended_at",
    "worker",
    "lease_token",
    "lease_expires_at",
    "result",
    "errors",
    "options",
)


#: Between a queue's name and a counter's in the fields of a statistics hash (lua/common.lua).
_SEP = "\x1f"


def _text(value: float) -> str:
    return repr(float(value))


def _str(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _float(value: bytes | None) -> float | None:
    return None if value is None else float(value)


def _pack(conn: Any, commands: Sequence[tuple[Any, ...]]) -> Any:
    """``commands`` in Redis's protocol, as chunks for ``conn.send_packed_command``.

    Arguments are str, bytes, int or float, as redis-py accepts them.
    """
    if _pack_hiredis is None:
        return conn.pack_commands(commands)
    return [b"".join([_pack_hiredis(command) for command in commands])]


def _record(values: Sequence[bytes | None]) -> JobRecord:
    """A JobRecord from the RECORD_FIELDS values of a job's hash (claims run this per job)."""
    (
        job_id, queue, func, payload, state, created_at, enqueued_at, timeout, title,
        description, meta, result_ttl, failure_ttl, max_attempts, retry, attempts, run_at,
        started_at, ended_at, worker, lease_token, lease_expires_at, result, errors, options,
    ) = values  # fmt: skip
    assert job_id is not None
    assert state is not None
    return assemble(
        JobRecord,
        {
            "id": job_id.decode(),
            "queue": (queue or b"").decode(),
            "func": (func or b"").decode(),
            "payload": payload or b"",
            "state": JobState(state.decode()),
            "created_at": float(created_at or 0),
            "enqueued_at": float(enqueued_at or 0),
            "timeout": int(float(timeout or 0)),
            "title": _str(title),
            "description": _str(description),
            "meta": {} if meta in (None, b"{}") else json.loads(meta),
            "result_ttl": int(float(result_ttl or 0)),
            "failure_ttl": int(float(failure_ttl or 0)),
            "max_attempts": int(float(max_attempts or 1)),
            "retry": json.loads(retry) if retry else None,
            "attempts": int(float(attempts or 0)),
            "run_at": _float(run_at),
            "started_at": _float(started_at),
            "ended_at": _float(ended_at),
            "worker": _str(worker),
            "lease_token": _str(lease_token),
            "lease_expires_at": _float(lease_expires_at),
            "result": result,
            "errors": ()
            if errors in (None, b"[]")
            else tuple(ErrorInfo.from_dict(e) for e in json.loads(errors)),
            "options": json.loads(options) if options else {},
        },
    )


#: The bound of a call to a Redis that stopped answering at the network level
#: (host gone, partition): TCP keepalive probes and TCP_USER_TIMEOUT, which cost
#: nothing per call, unlike a socket timeout (a poll(2) before every read: about
#: a fifth more client CPU per enqueue). Past it the call fails like an outage
#: and the worker backs off and retries. ``?socket_timeout=`` bounds every call.
_DEAD_PEER_SECONDS = 30
_SOCKET_TIMEOUT = 30.0  # the longest blocking wait conveyor asks of Redis in one call


def _keepalive() -> dict[str, Any]:
    """redis-py's options for TCP keepalive, where the platform has them."""
    options: dict[int, int] = {}
    for name, value in (
        ("TCP_KEEPIDLE", 5),
        ("TCP_KEEPINTVL", 5),
        ("TCP_KEEPCNT", _DEAD_PEER_SECONDS // 5 - 1),
        ("TCP_USER_TIMEOUT", _DEAD_PEER_SECONDS * 1000),
    ):
        number = getattr(socket, name, None)
        if number is not None:
            options[number] = value
    return {"socket_keepalive": True, "socket_keepalive_options": options}


class RedisBackend(Backend):
    """Jobs in a Redis server."""

    def __init__(self, url: str, *, namespace: str = NAMESPACE) -> None:
        self.url = url
        self.ns = namespace
        # Typed as Any: redis-py's annotations mix the sync and async clients'
        # return types; this is the sync client with bytes responses.
        self._redis: Any
        try:
            self._redis = redis.Redis.from_url(
                url,
                socket_connect_timeout=5,
                # A Unix socket has no TCP options (and redis-py refuses them for one).
                **({} if url.lower().startswith("unix:") else _keepalive()),
                health_check_interval=30,
            )
        except ValueError as exc:
            raise ConfigError(f"Invalid Redis URL {redact(url)!r}: {exc}") from None
        self._local = threading.local()
        common = self._lua("common")
        self._scripts: dict[str, Script] = {
            name: self._redis.register_script(common + "\n" + self._lua(name)) for name in _SCRIPTS
        }
        # Taking a tick runs into enqueue.lua, so the tick's job is stored in the same script.
        self._scripts["periodic_take"] = self._redis.register_script(
            "\n".join((common, self._lua("periodic_take"), self._lua("enqueue")))
        )
        for name in ("periodic_declare", "periodic_enable"):
            self._scripts[name] = self._redis.register_script(common + "\n" + self._lua(name))
        with self._translated():
            self._check_layout()

    @classmethod
    def from_url(cls, url: str, base_dir: Path | None = None) -> RedisBackend:
        """``redis://[:password@]host:port/db``, ``rediss://...``, ``unix:///path.sock?db=0``.

        ``?namespace=NAME`` changes the key prefix (default ``conveyor``), for
        several independent installations on one database.
        """
        del base_dir
        rest, names = pop_url_option(check_url(url), "namespace")
        if not names:
            return cls(url)
        if (
            len(names) > 1
            or not names[0]
            or not names[0].replace("-", "").replace("_", "").isalnum()
        ):
            raise ConfigError(
                f"Invalid namespace in {redact(url)!r}: use letters, digits, '-' or '_'"
            )
        return cls(rest, namespace=names[0])

    def _check_layout(self) -> None:
        """Refuse a store whose layout is newer than this code's; mark an older or new one.

        The usual open reads one key. A store without it is new (nothing in
        the namespace) or was written before the key existed (version 1).
        """
        key = self._key("version")
        raw = self._redis.get(key)
        if raw is None:
            written = next(iter(self._redis.scan_iter(match=f"{self.ns}:*", count=1000)), None)
            found = 0 if written is None else 1
        elif raw.isdigit():
            found = int(raw)
        else:
            raise BackendError(
                f"Redis at {self._where()}: the key {key} holds {raw!r}, not a conveyor layout"
                " version"
            )
        if found < LAYOUT_VERSION:
            # Versions 2 and 3 only added an optional field and new keys: no stored data moves.
            found = max(found, int(self._redis.eval(_RAISE_VERSION, 1, key, LAYOUT_VERSION)))
        if found > LAYOUT_VERSION:
            where = f"in Redis at {self._where()}, namespace {self.ns}"
            raise StoreVersionError(where, found, LAYOUT_VERSION)

    @staticmethod
    def _lua(name: str) -> str:
        path = resources.files("conveyor.backends.redis").joinpath(f"lua/{name}.lua")
        return path.read_text(encoding="utf-8")

    # -- plumbing ----------------------------------------------------------
    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Driver errors become conveyor's, at this seam and nowhere else."""
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BackendUnavailable(f"Redis at {self._where()} is unavailable: {exc}") from None
        except redis.RedisError as exc:
            raise BackendError(f"Redis at {self._where()}: {exc}") from exc

    def _where(self) -> str:
        kwargs = self._redis.connection_pool.connection_kwargs
        if "path" in kwargs:
            return str(kwargs["path"])
        return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"

    def _run(self, name: str, args: Sequence[Any]) -> Any:
        """Run one of the scripts (by SHA, loading them if the server lacks it)."""
        with self._translated():
            return self._pipelined([self._script_call(name, args)])[0]

    def _script_call(self, name: str, args: Sequence[Any]) -> tuple[Any, ...]:
        """The command that runs script ``name`` by SHA: no keys, the namespace, then ``args``."""
        return ("EVALSHA", self._scripts[name].sha, 0, self.ns, *args)

    def _key(self, *parts: str) -> str:
        return ":".join((self.ns, *parts))

    def _index_keys(self, queue: str) -> dict[JobState, str]:
        return {
            JobState.QUEUED: self._key("queued", queue),
            JobState.SCHEDULED: self._key("scheduled", queue),
            JobState.STARTED: self._key("started", queue),
            **{state: self._key("ended", state.value, queue) for state in ENDED_STATES},
        }

    # -- producing ---------------------------------------------------------
    def enqueue(self, jobs: Sequence[NewJob], *, now: float) -> None:
        check_new_jobs(jobs)
        reply = self._run("enqueue", self._enqueue_args(jobs, now))
        if int(reply[0]) == 1:
            raise DuplicateJobError(reply[1].decode())

    @staticmethod
    def _enqueue_args(jobs: Sequence[NewJob], now: float) -> list[Any]:
        """The arguments of ``enqueue.lua`` after the namespace."""
        # enqueue.lua reads each job's values by position; only the optional
        # fields go as field/value pairs, after their count.
        args: list[Any] = [_text(now), len(jobs)]
        for job in jobs:
            optional: list[Any] = []
            if job.title is not None:
                optional += ["title", job.title]
            if job.description is not None:
                optional += ["description", job.description]
            if job.retry:
                optional += ["retry", json.dumps(dict(job.retry))]
            if job.options:
                optional += ["options", json.dumps(dict(job.options))]
            args += [
                job.id,
                job.queue,
                ("1" if job.at_front else "0") if job.run_at is None else _text(job.run_at),
                job.payload,
                job.func,
                _text(job.created_at),
                job.timeout,
                json.dumps(dict(job.meta)) if job.meta else "{}",
                job.result_ttl,
                job.failure_ttl,
                job.max_attempts,
                len(optional) // 2,
                *optional,
            ]
        return args

    # -- consuming ---------------------------------------------------------
    def claim(
        self,
        queues: Sequence[str],
        *,
        worker: str,
        lease: float,
        now: float,
        limit: int = 1,
        wait: float = 0.0,
    ) -> list[JobRecord]:
        started = time.monotonic()
        wake_keys = [self._key("wake", queue) for queue in queues]

        def args(mode: str) -> list[Any]:
            return self._claim_args(queues, worker, lease, now, limit, mode)

        reply = self._run("claim", args("mark" if wait > 0 else ""))
        while not reply or not isinstance(reply[0], list):
            waited = time.monotonic() - started
            remaining = wait - waited
            if remaining <= 0:
                return []
            if reply:  # nothing to claim, and a scheduled job is due then
                remaining = min(remaining, max(float(reply[0]) - (now + waited), 0.01))
            # Wait for a wake-up token (something was enqueued, or left behind)
            # and claim in the same round trip: the server runs the claim the
            # moment the wait ends. The claim moves ``now`` on by the time the
            # server saw pass since the "mark" above.
            with self._translated():
                _, reply = self._pipelined(
                    [
                        # Within the socket timeout: a longer wait goes round again.
                        ("BLPOP", *wake_keys, min(max(remaining, 0.001), _SOCKET_TIMEOUT / 2)),
                        self._script_call("claim", args("after")),
                    ]
                )
        return [_record(values) for values in reply]

    def _pipelined(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Send commands in one round trip and return their replies.

        Scripts go as raw EVALSHA (redis-py's Script would ask SCRIPT EXISTS
        first, a round trip per call). A server that forgot the scripts (it
        restarted) answers NOSCRIPT: they are loaded, and the commands refused
        run again. Any other error reply is raised.
        """
        replies = self._exchange(commands)
        missing = [
            i
            for i, reply in enumerate(replies)
            if isinstance(reply, redis.exceptions.NoScriptError)
        ]
        if missing:
            for script in self._scripts.values():
                self._redis.script_load(script.script)
            again = self._exchange([commands[i] for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def _exchange(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """One write of ``commands`` on this thread's connection, then their replies (or
        errors) in order. This is redis-py's pipeline without its per-call
        machinery (and without taking a connection from the pool and giving it
        back each time), which cost more CPU than the I/O.

        A dropped connection is tried once more, reconnected, as redis-py's
        own retry would.
        """
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.send_packed_command(_pack(conn, commands))
                replies: list[Any] = []
                for _ in commands:
                    try:
                        replies.append(conn.read_response())
                    except redis.ResponseError as exc:  # a whole reply: the stream stays in step
                        replies.append(exc)
                return replies
            except (redis.ConnectionError, redis.TimeoutError):
                conn.disconnect()  # it reconnects on its next use
                if attempt == 2:
                    raise
            except BaseException:
                conn.disconnect()
                raise
        raise AssertionError("unreachable")

    def _connection(self) -> Any:
        """This thread's own connection from the pool, kept for the scripts' round trips."""
        local = self._local
        pid = os.getpid()
        if getattr(local, "pid", None) != pid:  # first use in this thread, or a forked child
            local.conn = self._redis.connection_pool.get_connection()
            local.pid = pid
        return local.conn

    @staticmethod
    def _claim_args(
        queues: Sequence[str], worker: str, lease: float, now: float, limit: int, mode: str
    ) -> list[Any]:
        """The claim script's arguments after the namespace, with a fresh lease token base.

        One random base a call (the script appends ``-<n>`` for the n-th job it
        claims), not one token a slot: an idle worker's blocking claim asks for
        as many jobs as it may claim ahead, and it runs, in Redis, before the
        reply to the enqueue that woke it is sent.
        """
        (base,) = lease_tokens(1)
        head = [worker, _text(now + lease), _text(now), limit, len(queues)]
        return [*head, *queues, base, mode]

    def _complete_then_claim(
        self,
        completions: Sequence[Completion],
        queues: Sequence[str],
        *,
        worker: str,
        lease: float,
        now: float,
        limit: int,
        wait: float,
    ) -> tuple[list[bool], list[JobRecord]] | None:
        claim_args = self._claim_args(queues, worker, lease, now, limit, "")
        complete_args = self._completion_args(completions, now)
        with self._translated():
            flags, reply = self._pipelined(
                [
                    self._script_call("complete", complete_args),
                    self._script_call("claim", claim_args),
                ]
            )
        claimed = [_record(values) for values in reply]
        accepted = [bool(flag) for flag in flags]
        return accepted, claimed

    def complete(self, completions: Sequence[Completion], *, now: float) -> list[bool]:
        return [
            bool(flag) for flag in self._run("complete", self._completion_args(completions, now))
        ]

    @staticmethod
    def _completion_args(completions: Sequence[Completion], now: float) -> list[Any]:
        check_completions(completions)
        args: list[Any] = [_text(now), len(completions)]
        for done in completions:
            args += [
                done.job_id,
                done.token,
                done.state.value,
                "0" if done.result is None else "1",
                done.result or b"",
                json.dumps(done.error.to_dict()) if done.error else "",
                _text(done.run_at if done.run_at is not None else now),
                "" if done.started_at is None else _text(done.started_at),
                "" if done.count_attempt else "1",
            ]
        return args

    def extend(self, leases: Sequence[tuple[str, str]], *, lease: float, now: float) -> list[bool]:
        args: list[Any] = [_text(now), _text(now + lease), len(leases)]
        for job_id, token in leases:
            args += [job_id, token]
        return [bool(flag) for flag in self._run("extend", args)]

    # -- job meta (issue 16: save_meta) -----------------------------------
    def save_meta(self, job_id: str, meta: Mapping[str, Any], *, token: str | None = None) -> bool:
        text = json.dumps(dict(meta)) if meta else "{}"
        return bool(self._run("save_meta", [job_id, text, "" if token is None else token]))

    def recover(self, *, now: float) -> list[Recovery]:
        recovered: list[Recovery] = []
        while True:
            flat = self._run("recover", [_text(now), _BATCH])
            for i in range(0, len(flat), 4):
                recovered.append(
                    Recovery(
                        job_id=flat[i].decode(),
                        queue=flat[i + 1].decode(),
                        state=JobState(flat[i + 2].decode()),
                        attempts=int(flat[i + 3]),
                    )
                )
            if len(flat) < 4 * _BATCH:
                return recovered

    def purge(self, *, now: float) -> int:
        total = 0
        while True:
            purged = int(self._run("purge", [_text(now), _BATCH]))
            total += purged
            if purged < _BATCH:
                return total

    # -- managing ----------------------------------------------------------
    def get(self, job_id: str) -> JobRecord | None:
        with self._translated():
            values = self._redis.hmget(self._key("job", job_id), RECORD_FIELDS)
        return None if values[0] is None else _record(values)

    def _get_many(self, ids: Sequence[bytes]) -> list[JobRecord]:
        with self._translated():
            pipe = self._redis.pipeline(transaction=False)
            for job_id in ids:
                pipe.hmget(self._key("job", job_id.decode()), RECORD_FIELDS)
            found = pipe.execute()
        # A record can vanish between index and hash (purged, canceled): skip it.
        return [_record(values) for values in found if values[0] is not None]

    def _index_page(
        self, queue: str, states: Sequence[JobState], skip: int, wanted: int | None
    ) -> tuple[int, list[bytes]]:
        """(count, ids) of one queue's jobs in the given states, in listing order.

        Queued, scheduled and started jobs come in their index order; ended
        ones after them, most recent first across the ended states.
        """
        keys = self._index_keys(queue)
        ordered = [
            s for s in (JobState.QUEUED, JobState.SCHEDULED, JobState.STARTED) if s in states
        ]
        ended = [s for s in states if s in ENDED_STATES]
        with self._translated():
            pipe = self._redis.pipeline(transaction=False)
            for state in (*ordered, *ended):
                pipe.zcard(keys[state])
            counts = pipe.execute()
        total = sum(counts)
        ids: list[bytes] = []
        if wanted == 0 or skip >= total:
            return total, ids
        with self._translated():
            for state, count in zip(ordered, counts, strict=False):
                need = None if wanted is None else wanted - len(ids)
                if need == 0:
                    break
                if skip >= count:
                    skip -= count
                    continue
                ids += self._redis.zrange(
                    keys[state], skip, -1 if need is None else skip + need - 1
                )
                skip = 0
            need = None if wanted is None else wanted - len(ids)
            if ended and need != 0:
                top = -1 if need is None else skip + need - 1
                merged: list[tuple[float, bytes]] = []
                for state in ended:
                    pairs = self._redis.zrevrange(keys[state], 0, top, withscores=True)
                    merged += [(score, member) for member, score in pairs]
                merged.sort(key=lambda pair: -pair[0])
                window = merged[skip:] if need is None else merged[skip : skip + need]
                ids += [member for _, member in window]
        return total, ids

    def list_jobs(
        self,
        queues: Sequence[str],
        *,
        states: Sequence[JobState] = (JobState.QUEUED,),
        offset: int = 0,
        limit: int | None = None,
    ) -> Page:
        chosen = [JobState(s) for s in states]

        def page_of(queue: str, skip: int, wanted: int | None) -> tuple[int, list[JobRecord]]:
            count, ids = self._index_page(queue, chosen, skip, wanted)
            return count, self._get_many(ids) if ids else []

        return page_across(queues, offset, limit, page_of)

    def queue_names(self, prefix: str) -> list[str]:
        key = self._key("queues", prefix)
        with self._translated():
            names = sorted(m.decode() for m in self._redis.smembers(key))
            counts = self.count(names)
            gone = [name for name in names if not counts[name]]
            if gone:
                self._redis.srem(key, *gone)
        return [name for name in names if counts[name]]

    def count(self, queues: Sequence[str]) -> dict[str, dict[JobState, int]]:
        with self._translated():
            pipe = self._redis.pipeline(transaction=False)
            for queue in queues:
                for key in self._index_keys(queue).values():
                    pipe.zcard(key)
            flat = iter(pipe.execute())
        counts: dict[str, dict[JobState, int]] = {}
        for queue in queues:
            per_state = {state: next(flat) for state in self._index_keys(queue)}
            counts[queue] = {state: n for state, n in per_state.items() if n}
        return counts

    def stats(self, prefix: str, *, since: float, until: float) -> list[MinuteStats]:
        site = split_queue_name(prefix)[0]  # the hashes are per site and hour (lua/common.lua)
        first, last = minute_of(since), minute_of(until)
        hours = range(first // 60, last // 60 + 1)
        with self._translated():
            pipe = self._redis.pipeline(transaction=False)
            for hour in hours:
                pipe.hgetall(self._key("stats", f"{site}{hour}"))
            hashes = pipe.execute()
        values: dict[tuple[str, int], dict[str, float]] = {}
        for fields in hashes:
            for field, value in fields.items():
                queue, minute_text, name = field.decode().rsplit(_SEP, 2)
                minute = int(minute_text)
                if queue.startswith(prefix) and first <= minute <= last:
                    values.setdefault((queue, minute), {})[name] = float(value)
        return [
            MinuteStats(
                queue=queue,
                minute=minute * 60,
                finished=int(found.get("finished", 0)),
                failed=int(found.get("failed", 0)),
                wait_sum=found.get("wait_sum", 0.0),
                wait_count=int(found.get("wait_count", 0)),
                run_sum=found.get("run_sum", 0.0),
                run_count=int(found.get("run_count", 0)),
            )
            for (queue, minute), found in sorted(values.items())
        ]

    def cancel(self, job_id: str, *, now: float) -> JobRecord | None:
        reply = self._run("cancel", [_text(now), job_id])
        if not reply:
            return None
        if reply[0] == b"ended":
            raise JobStateError.cannot_cancel(job_id, reply[1].decode())
        return _record(reply)

    def delete(self, job_id: str, *, now: float) -> JobRecord | None:
        reply = self._run("delete", [job_id])
        return _record(reply) if reply else None

    def clear(self, queues: Sequence[str], *, now: float) -> dict[str, int]:
        cleared = dict.fromkeys(queues, 0)
        for queue in queues:
            while True:
                removed = int(self._run("clear", [queue, _BATCH]))
                cleared[queue] += removed
                if removed < _BATCH:
                    break
        return cleared

    def requeue(self, job_ids: Sequence[str], *, now: float) -> list[str]:
        if not job_ids:
            return []
        return [m.decode() for m in self._run("requeue", [_text(now), *job_ids])]

    def run_now(self, job_ids: Sequence[str], *, now: float) -> list[str]:
        if not job_ids:
            return []
        return [m.decode() for m in self._run("run_now", [_text(now), *job_ids])]

    def wait_ended(self, job_id: str, *, timeout: float | None) -> JobRecord | None:
        """Wake on the ``<ns>:ended`` messages that completions publish while anyone
        waits (this process says it does in ``<ns>:waiters``), and look again at
        least every second for ends that publish nothing (a cancel, a recovery)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        me = secrets.token_hex(8)
        waiters = self._key("waiters")
        with self._translated():
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self._key("ended"))
                while True:
                    now = time.time()
                    pipe = self._redis.pipeline(transaction=False)
                    pipe.zremrangebyscore(waiters, "-inf", _text(now))
                    pipe.zadd(waiters, {me: now + 5})
                    pipe.execute()
                    record = self.get(job_id)
                    if record is None or record.state in ENDED_STATES:
                        return record
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return record
                    pubsub.get_message(timeout=1.0 if remaining is None else min(remaining, 1.0))
            finally:
                self._redis.zrem(waiters, me)
                pubsub.close()

    # -- workers -----------------------------------------------------------
    def _workers_key(self, queues: Sequence[str]) -> str:
        return self._key("workers", split_queue_name(queues[0])[0] if queues else ":")

    def register_worker(self, info: WorkerInfo, *, ttl: float, now: float) -> None:
        with self._translated():
            pipe = self._redis.pipeline(transaction=True)
            pipe.set(self._key("worker", info.key), json.dumps(info.to_dict()), px=int(ttl * 1000))
            pipe.zadd(self._workers_key(info.queues), {info.key: now + ttl})
            pipe.execute()

    def unregister_worker(self, key: str) -> None:
        with self._translated():
            raw = self._redis.get(self._key("worker", key))
            if raw is None:
                return
            info = WorkerInfo.from_dict(json.loads(raw))
            pipe = self._redis.pipeline(transaction=True)
            pipe.delete(self._key("worker", key))
            pipe.zrem(self._workers_key(info.queues), key)
            pipe.execute()

    def workers(self, prefix: str, *, now: float) -> list[WorkerInfo]:
        index = self._key("workers", prefix)
        with self._translated():
            self._redis.zremrangebyscore(index, "-inf", _text(now))
            keys = [k.decode() for k in self._redis.zrange(index, 0, -1)]
            raws = self._redis.mget([self._key("worker", k) for k in keys]) if keys else []
        found = [WorkerInfo.from_dict(json.loads(raw)) for raw in raws if raw is not None]
        found = [w for w in found if w.serves(prefix)]
        return sorted(found, key=lambda w: (w.started_at, w.key))

    # -- web API tokens ------------------------------------------------------
    # Few tokens exist (one per client), so a lookup by hash reads them all
    # rather than keeping a second index that could drift from the first.
    def save_token(self, token: ApiToken) -> None:
        value = json.dumps(token.to_dict())
        with self._translated():
            added = self._redis.hsetnx(self._key("tokens"), f"{token.site_id}:{token.name}", value)
        if not added:
            raise DuplicateTokenError(token.name)

    def tokens(self, site_id: str) -> list[ApiToken]:
        with self._translated():
            raw = self._redis.hgetall(self._key("tokens"))
        prefix = f"{site_id}:".encode()
        found = [
            ApiToken.from_dict(json.loads(value))
            for field, value in raw.items()
            if field.startswith(prefix)
        ]
        return sorted(found, key=lambda token: token.name)

    def revoke_token(self, site_id: str, name: str) -> bool:
        with self._translated():
            return bool(self._redis.hdel(self._key("tokens"), f"{site_id}:{name}"))

    def find_token(self, token_hash: str) -> ApiToken | None:
        with self._translated():
            values = self._redis.hvals(self._key("tokens"))
        for value in values:
            token = ApiToken.from_dict(json.loads(value))
            if hmac.compare_digest(token.hash, token_hash):
                return token
        return None

    # -- periodic jobs (keys periodic:<name>, periodic-names) ---------------------
    def declare_periodic(self, declarations: Sequence[PeriodicDeclaration], *, now: float) -> None:
        if declarations:
            self._run("periodic_declare", periodic.declare_args(declarations, now))

    def claim_tick(self, name: str, tick: float, job: NewJob | None, *, now: float) -> bool:
        args = self._enqueue_args([job] if job else [], now)
        reply = self._run("periodic_take", [*args, name, _text(tick), job.id if job else ""])
        if int(reply[0]) == 1:
            raise DuplicateJobError(reply[1].decode())
        return int(reply[0]) == 0

    def _periodic_entry(self, name: str) -> PeriodicEntry | None:
        with self._translated():
            return periodic.entry(self._redis.hmget(self._key("periodic", name), periodic.FIELDS))

    def periodic_entries(self, prefix: str) -> list[PeriodicEntry]:
        with self._translated():
            names = sorted(n.decode() for n in self._redis.smembers(self._key("periodic-names")))
            pipe = self._redis.pipeline(transaction=False)
            for name in (n for n in names if n.startswith(prefix)):
                pipe.hmget(self._key("periodic", name), periodic.FIELDS)
            found = [periodic.entry(values) for values in pipe.execute()]
        return [entry for entry in found if entry is not None]

    def set_periodic_enabled(self, name: str, enabled: bool) -> PeriodicEntry | None:
        if not self._run("periodic_enable", [name, "1" if enabled else "0"]):
            return None
        return self._periodic_entry(name)

    def forget_periodic(self, name: str) -> bool:
        with self._translated():
            pipe = self._redis.pipeline(transaction=True)
            pipe.delete(self._key("periodic", name))
            pipe.srem(self._key("periodic-names"), name)
            deleted, _ = pipe.execute()
        return bool(deleted)

    # -- paused queues and worker commands ---------------------------------------
    # Keys (additive, no layout bump): "paused-queues", a set of full queue names,
    # and "worker-command:<worker key>", a string that expires after COMMAND_TTL.
    def set_paused(self, queues: Sequence[str], paused: bool, *, now: float) -> list[str]:
        del now
        names = list(dict.fromkeys(queues))
        if not names:
            return []
        key = self._key("paused-queues")
        with self._translated():
            pipe = self._redis.pipeline(transaction=True)
            for name in names:
                (pipe.sadd if paused else pipe.srem)(key, name)
            results = pipe.execute()
        return [name for name, result in zip(names, results, strict=True) if result]

    def paused_queues(self, prefix: str) -> list[str]:
        with self._translated():
            members = self._redis.smembers(self._key("paused-queues"))
        return sorted(n for n in (m.decode() for m in members) if n.startswith(prefix))

    def command_worker(self, key: str, command: str, *, now: float) -> None:
        del now
        ttl = int(COMMAND_TTL * 1000)
        with self._translated():
            # "stop" replaces anything; "quiet" never replaces a "stop" (nor itself).
            self._redis.set(self._key("worker-command", key), command, px=ttl, nx=command != STOP)

    def worker_control(self, key: str, queues: Sequence[str]) -> WorkerControl:
        with self._translated():
            pipe = self._redis.pipeline(transaction=False)
            pipe.smembers(self._key("paused-queues"))
            pipe.get(self._key("worker-command", key))
            members, command = pipe.execute()
        paused = {m.decode() for m in members}
        return WorkerControl(
            paused=frozenset(q for q in queues if q in paused),
            command=None if command is None else command.decode(),
        )

    def forget_worker_command(self, key: str) -> None:
        with self._translated():
            self._redis.delete(self._key("worker-command", key))

    def close(self) -> None:
        self._redis.close()
