"""The multi-host tests' network, its store servers, and the figures each scenario reports.

These tests run only with ``-m multihost`` (``make multihost-test``). They need
root, Linux network namespaces, TAP devices, ``ip``, ``setpriv``,
``redis-server`` and a PostgreSQL server's binaries; where one is missing they
skip with the reason, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # network, stores and the job module, for the tests and the hosts
    sys.path.insert(0, str(HERE))

from figures import FIGURES  # noqa: E402
from network import Network, NetworkError  # noqa: E402
from stores import ServerError, StoreServers, postgresql_bin  # noqa: E402


def _cannot_run(why: str) -> None:
    message = f"MULTI-HOST TESTS NOT RUN: {why}"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


def _missing_requirement() -> str | None:
    if sys.platform != "linux":
        return "they need Linux network namespaces"
    if os.geteuid() != 0:
        return "they need root (ip netns, TAP devices)"
    for tool in ("ip", "setpriv", "redis-server"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if postgresql_bin() is None:
        return "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing (TAP devices)"
    return None


@pytest.fixture(scope="session")
def network() -> Iterator[Network]:
    """Four hosts (store, worker1, worker2, producer), removed at the end of the session."""
    missing = _missing_requirement()
    if missing is not None:
        _cannot_run(missing)
    built = Network()
    try:
        built.build()
    except (NetworkError, OSError) as exc:
        built.close()
        _cannot_run(f"the kernel refused the network of namespaces: {exc}")
    try:
        yield built
    finally:
        built.close()


@pytest.fixture(scope="session")
def store_servers(network: Network) -> Iterator[StoreServers]:
    """The store host's own redis-server and PostgreSQL."""
    servers = StoreServers(network)
    try:
        servers.start()
    except (ServerError, OSError) as exc:
        servers.stop()
        _cannot_run(f"the store host's servers did not start: {exc}")
    try:
        yield servers
    finally:
        servers.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("multi-host figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
