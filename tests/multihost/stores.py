"""The store host's own servers: a redis-server and a PostgreSQL instance, started for the session.

Both listen on the store host's address (the worker and producer hosts reach
them over the network) and on a Unix socket in a directory of their own (the
test process, which stays in the machine's namespace, reads job states through
it, never through the network under test). Neither is the machine's shared
server.
"""

from __future__ import annotations

import glob
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from network import ADDRESSES, SUBNET, Network, stop_by_pid

REDIS_PORT = 6379
POSTGRESQL_PORT = 5432


class ServerError(Exception):
    """A server of the store host did not start."""


def _wait_for_socket(path: Path, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"{what} exited with code {process.returncode} while starting")
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(path))
                return
            except OSError:
                pass
        time.sleep(0.1)
    raise ServerError(f"{what} did not open {path} within 60 s")


def postgresql_bin() -> Path | None:
    """The newest PostgreSQL server's bin directory, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_version)
    return Path(found[-1]).parent if found else None


def _version(path: str) -> float:
    try:
        return float(Path(path).parent.parent.name)
    except ValueError:
        return 0.0


class StoreServers:
    """redis-server and postgres in the store host's namespace, in a temporary directory."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.directory = Path(tempfile.mkdtemp(prefix="conveyor-multihost-"))
        self.processes: list[subprocess.Popen[bytes]] = []
        self.redis_socket = self.directory / "redis.sock"
        self.postgresql_sockets = self.directory / "pg"

    def start(self) -> None:
        self._start_redis()
        self._start_postgresql()

    def _start_redis(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise ServerError("redis-server is not installed")
        log = (self.directory / "redis.log").open("wb")
        argv = [server, "--bind", ADDRESSES["store"], "--port", str(REDIS_PORT)]
        argv += ["--unixsocket", str(self.redis_socket), "--unixsocketperm", "700"]
        argv += ["--save", "", "--appendonly", "no", "--protected-mode", "no"]
        argv += ["--dir", str(self.directory)]
        process = self.network.run("store", argv, {}, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.processes.append(process)
        _wait_for_socket(self.redis_socket, process, "redis-server")

    def _start_postgresql(self) -> None:
        """initdb and postgres run as the ``postgres`` user (they refuse root)."""
        bin_dir = postgresql_bin()
        if bin_dir is None:
            raise ServerError("no PostgreSQL server under /usr/lib/postgresql/*/bin")
        data = self.directory / "pgdata"
        self.postgresql_sockets.mkdir()
        shutil.chown(self.directory, "postgres")
        shutil.chown(self.postgresql_sockets, "postgres")
        options = ["--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]
        as_postgres = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
        initdb = subprocess.run(
            [*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", *options],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={"PATH": "/usr/bin:/bin"},
        )
        if initdb.returncode != 0:
            raise ServerError(f"initdb failed: {initdb.stderr.strip()}")
        with (data / "pg_hba.conf").open("a", encoding="utf-8") as hba:  # the hosts' subnet
            hba.write(f"host all postgres {SUBNET}.0/24 trust\n")
        log = (self.directory / "postgresql.log").open("wb")
        argv = [*as_postgres, str(bin_dir / "postgres"), "-D", str(data)]
        argv += ["-c", f"listen_addresses={ADDRESSES['store']}", "-p", str(POSTGRESQL_PORT)]
        argv += ["-c", f"unix_socket_directories={self.postgresql_sockets}"]
        argv += ["-c", "fsync=off", "-c", "shared_buffers=16MB", "-c", "max_connections=60"]
        process = self.network.run("store", argv, {}, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.processes.append(process)
        socket_path = self.postgresql_sockets / f".s.PGSQL.{POSTGRESQL_PORT}"
        _wait_for_socket(socket_path, process, "postgres")

    def stop(self) -> None:
        """Stop both servers by pid (postgres: SIGINT, its fast shutdown) and remove their
        directory."""
        import signal

        for process in reversed(self.processes):
            stop_by_pid(process, signal.SIGINT)
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- URLs ------------------------------------------------------------------------------
    def redis_urls(self, namespace: str) -> tuple[str, str]:
        """(over the network, for the hosts; over the Unix socket, for the test)."""
        network = f"redis://{ADDRESSES['store']}:{REDIS_PORT}/0?namespace={namespace}"
        return network, f"unix://{self.redis_socket}?db=0&namespace={namespace}"

    def postgresql_urls(self, schema: str) -> tuple[str, str]:
        network = f"postgresql://postgres@{ADDRESSES['store']}:{POSTGRESQL_PORT}/postgres"
        local = f"postgresql://postgres@/postgres?host={self.postgresql_sockets}"
        return f"{network}?schema={schema}", f"{local}&port={POSTGRESQL_PORT}&schema={schema}"
