"""The worker: a supervisor process that claims jobs and runs them in children.

The supervisor is single-threaded. It claims jobs, hands them to children
over pipes, extends the leases of running jobs, kills a child whose job
overran its timeout or was canceled, records outcomes, and recovers jobs
whose worker vanished (see ``loop.py``). Jobs never run in the supervisor.
This module holds the public ``Worker``: its settings, signals and lifetime.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from conveyor import config as _config
from conveyor.api import DEFAULT_QUEUE_NAME, backend, check_queue_name
from conveyor.backends import Backend
from conveyor.exceptions import BackendUnavailable, ConfigError
from conveyor.functions import import_function
from conveyor.periodic_jobs.declare import declared
from conveyor.periodic_jobs.ticker import Ticker, check
from conveyor.worker.child import ChildSettings
from conveyor.worker.loop import Loop, LoopSettings, backend_backoff
from conveyor.worker.pool import FdCloser, Pool
from conveyor.worker.stopping import StopFlag

if TYPE_CHECKING:
    from conveyor.metrics import WorkerMetrics

log = logging.getLogger("conveyor.worker")


def _hook(value: Callable[[], Any] | str | None) -> Callable[[], Any] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return import_function(value)
    return value


def import_dirs(given: Sequence[str | os.PathLike[str]], config: _config.Config) -> list[str]:
    """The directories a worker makes importable, first searched first.

    Those given (``--path``), then ``conveyor.worker.path`` (relative to the
    config file's directory), then the working directory, as RQ, Dramatiq
    and Huey do. Each must exist.
    """
    dirs = [Path(d).resolve() for d in given]
    dirs += [(config.base_dir / d).resolve() for d in config.worker_path]
    dirs.append(Path.cwd())
    for directory in dirs:
        if not directory.is_dir():
            raise ConfigError(
                f"Import path {directory} (--path or conveyor.worker.path) is not a directory"
            )
    return list(dict.fromkeys(str(d) for d in dirs))


def add_to_sys_path(dirs: Sequence[str]) -> None:
    """Put ``dirs`` at the front of ``sys.path``, in their order, unless there already.

    Children inherit it. A directory on the path already stays where it is,
    so a process that builds several workers does not reorder its path.
    """
    for directory in reversed(dirs):
        if directory not in sys.path:
            sys.path.insert(0, directory)


def backend_label(backend: Backend, url: str) -> str:
    """The backend as logs name it: its URL without a password; SQLite's file in full."""
    path = getattr(backend, "path", None)
    if url.lower().startswith("sqlite:") and isinstance(path, Path):
        return f"sqlite:///{path}"
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="*"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _default_name() -> str:
    """``host.pid``: short, and unique enough for a person reading logs."""
    return f"{socket.gethostname().split('.')[0]}.{os.getpid()}"


class Worker:
    """Runs jobs from this site's queues in child processes.

    ``queues`` is one name or a list, leftmost first (default: ``default``).
    ``concurrency`` children run jobs at once; with ``isolation="job"`` each
    job gets a fresh child, as RQ does, otherwise children are reused and
    recycled after ``conveyor.worker.max_jobs_per_child`` jobs (0, the default: never).
    ``init`` runs in every child when it starts and ``before_fork`` in the
    supervisor before each fork (import paths or callables; by default the
    ``conveyor.worker.init`` / ``conveyor.worker.before_fork`` keys): use them
    to dispose of and reopen database engines, which must never be shared
    across a fork.

    ``paths`` are directories to import job functions from, searched before
    ``conveyor.worker.path`` and the working directory (all three are put at
    the front of ``sys.path`` when the worker is made, so children inherit
    them). ``name`` is how log lines name the worker (default
    ``conveyor.worker.name``, else ``host.pid``); its unique ``key`` is what
    job records and the registry hold. With ``periodic`` (the default) the worker also
    enqueues the periodic jobs of its queues at their ticks (see
    ``conveyor.periodic``).
    """

    def __init__(
        self,
        queues: Sequence[str] | str | None = None,
        *,
        concurrency: int | None = None,
        isolation: str = "child",
        init: Callable[[], Any] | str | None = None,
        before_fork: Callable[[], Any] | str | None = None,
        name: str | None = None,
        paths: Sequence[str | os.PathLike[str]] = (),
        periodic: bool = True,
    ) -> None:
        if isinstance(queues, str):
            queues = [queues] if queues else []  # as CKAN's Worker: an empty value is `default`
        elif queues is not None and not isinstance(queues, Sequence):
            raise TypeError(
                "Worker(queues): a queue name or a list of queue names, "
                f"not {type(queues).__name__} {queues!r}"
            )
        self.queue_names = [check_queue_name(q) for q in (queues or [DEFAULT_QUEUE_NAME])]
        self.config = _config.current()
        self.queues = [self.config.queue_prefix + q for q in self.queue_names]
        self.concurrency = (
            concurrency if concurrency is not None else self.config.worker_concurrency
        )
        if not 1 <= self.concurrency <= _config.MAX_CONCURRENCY:
            raise ConfigError(
                f"concurrency must be from 1 to {_config.MAX_CONCURRENCY}, not {self.concurrency}"
            )
        if isolation not in {"child", "job"}:
            raise ConfigError(f"isolation must be 'child' or 'job', not {isolation!r}")
        self.isolation = isolation
        #: How log lines name this worker.
        self.name = name or self.config.worker_name or _default_name()
        if not self.name.isprintable() or len(self.name) > 100:
            raise ConfigError(
                f"A worker name must be printable, at most 100 characters: {self.name!r}"
            )
        #: The worker's unique run id, as job records and the registry hold it.
        self.key = f"conveyor:worker:{uuid.uuid4().hex}"
        #: The directories put at the front of ``sys.path``, first searched first.
        self.import_paths = import_dirs(paths, self.config)
        add_to_sys_path(self.import_paths)
        self.lease = float(self.config.worker_lease)
        self._init = init if init is not None else (self.config.worker_init or None)
        self._before_fork = _hook(
            before_fork if before_fork is not None else self.config.worker_before_fork
        )
        #: Most jobs claimed ahead of free children (``conveyor.worker.prefetch``).
        self.prefetch = self.config.worker_prefetch
        self._loop: Loop | None = None
        #: Takes the ticks of the periodic jobs of this worker's queues (None: not this worker).
        self.ticker: Ticker | None = None
        if periodic:
            ticker = Ticker(declared(self.config).values(), self.queues, self.config)
            check(ticker.jobs, self.config, time.time())
            self.ticker = ticker if ticker.jobs else None
        #: Prometheus metrics this worker's supervisor counts into (jobs worker --metrics-port).
        self.metrics: WorkerMetrics | None = None
        self._stop = StopFlag(self.name)

    # -- the public entry point --------------------------------------------------
    def work(self, burst: bool = False, max_idle_time: float | None = None) -> bool:
        """Run jobs until stopped (SIGINT/SIGTERM), or until idle in burst mode.

        ``burst`` returns as soon as no job is running and the queues hold
        none that is due (jobs scheduled for later are not waited for);
        ``max_idle_time`` returns once the worker has been idle that many
        seconds (no job running or claimed, counted from the end of its last
        job, or from its start). Returns True if any job ran.
        """
        backend = self._open_backend()
        settings = ChildSettings(
            serializer=self.config.serializer,
            max_jobs=1 if self.isolation == "job" else self.config.max_jobs_per_child,
            init=self._init,
            supervisor_pid=os.getpid(),
            timeout_grace=self.config.timeout_grace,
        )
        self._stop.open()
        wake_handles = [FdCloser(fd) for fd in self._stop.fds()]
        pool = Pool(self.concurrency, settings, self._before_fork, wake_handles)
        previous = self._install_signal_handlers()
        loop = self._loop = Loop(
            self.loop_settings(),
            self._stop,
            backend,
            pool,
            ticker=self.ticker,
            metrics=self.metrics,
        )
        where = backend_label(backend, self.config.backend)
        # The reference's line, then where the worker is: the store and site it
        # serves, and the key job records and the registry know it by.
        log.info(
            'Worker %s (PID %d) has started on queue(s) %s; site "%s", store %s, key %s',
            self.name,
            os.getpid(),
            ", ".join(f'"{q}"' for q in self.queue_names),
            self.config.site_id,
            where,
            self.key,
            extra={
                "worker": self.name,
                "worker_key": self.key,
                "queues": self.queue_names,
                "site_id": self.config.site_id,
                "store": where,
            },
        )
        log.debug("Worker %s imports from %s", self.name, sys.path, extra={"worker": self.name})
        try:
            loop.run(burst, max_idle_time)
        finally:
            loop.shutdown()
            self._restore_signal_handlers(previous)
            self._stop.close()
            log.info(
                "Worker %s (PID %d) has stopped",
                self.name,
                os.getpid(),
                extra={"worker": self.name},
            )
        return loop.ran_any

    def _open_backend(self) -> Backend:
        """The backend; a worker started while it is unavailable waits for it, with backoff."""
        delay = 0.0
        while True:
            try:
                return backend(self.config)
            except BackendUnavailable as exc:
                if self.stopping:
                    raise
                delay = backend_backoff(self.name, exc, delay)
                time.sleep(delay)

    @property
    def jobs_finished(self) -> int:
        """Jobs this worker finished in its current (or last) run."""
        return self._loop.recorder.finished if self._loop else 0

    @property
    def jobs_failed(self) -> int:
        """Jobs this worker failed for good (no retry left) in its current (or last) run."""
        return self._loop.recorder.failed if self._loop else 0

    @property
    def attempts_retried(self) -> int:
        """Attempts that failed and were retried, in its current (or last) run."""
        return self._loop.recorder.retried if self._loop else 0

    def loop_settings(self) -> LoopSettings:
        """What a run of this worker's loop is given."""
        return LoopSettings(
            name=self.name,
            key=self.key,
            queues=tuple(self.queues),
            concurrency=self.concurrency,
            lease=self.lease,
            prefetch=self.prefetch,
        )

    @property
    def stop_flag(self) -> StopFlag:
        """Whether this worker was asked to stop, and the pipe that wakes its loop."""
        return self._stop

    @property
    def wake_fd(self) -> int:
        """The read end of the pipe signals write to, so the loop wakes up at once."""
        return self._stop.wake_fd

    # -- signals ---------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask for a warm shutdown (a second call asks for a cold one)."""
        self._stop.request()

    @property
    def stopping(self) -> bool:
        return self._stop.stopping

    @property
    def stopping_now(self) -> bool:
        return self._stop.stopping_now

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        del signum, frame
        self.request_stop()

    def _install_signal_handlers(self) -> dict[int, Any]:
        previous: dict[int, Any] = {}
        try:
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, self._on_signal)
        except ValueError:  # not the main thread: the caller handles stopping
            pass
        return previous

    @staticmethod
    def _restore_signal_handlers(previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
