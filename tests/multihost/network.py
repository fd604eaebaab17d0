"""A small network of hosts on this machine: Linux network namespaces joined by a bridge.

::

    producer 10.200.0.21 --veth------------+
    worker1  10.200.0.11 --wire (faults)---+-- br0 10.200.0.1  store: redis-server, postgres
    worker2  10.200.0.12 --wire (faults)---+

Each host is a network namespace of its own (named after this process, so
parallel sessions never meet), with no route anywhere else: nothing here can
address anything outside the machine, and no interface is added to the
machine's own namespace. The worker hosts are plugged in through ``wire.py``
(TAP devices joined by a process that can cut the cable, or delay and drop
frames), because this kernel has no ``netem``. The namespaces share the
filesystem and the process table, so tests start processes in a host with
``ip netns exec``, stop them by pid, and read what they write.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
SUBNET = "10.200.0"
ADDRESSES = {"store": f"{SUBNET}.1", "worker1": f"{SUBNET}.11", "worker2": f"{SUBNET}.12"}
ADDRESSES["producer"] = f"{SUBNET}.21"
WORKER_HOSTS = ("worker1", "worker2")


class NetworkError(Exception):
    """The network could not be built (the kernel refused, or a command failed)."""


def ip(*args: str) -> None:
    """Run ``ip ARGS``; a failure is a NetworkError with ip's own message."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")


def stop_by_pid(process: subprocess.Popen[bytes], first: int = signal.SIGTERM) -> None:
    """Signal a process we started, then kill it (and its session's group) if it lingers."""
    if process.poll() is None:
        process.send_signal(first)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # whatever is left of its group


class Wire:
    """The cable of one worker host: a ``wire.py`` process in the store's namespace."""

    def __init__(self, namespace: str, store_end: str, host_end: str) -> None:
        ends = (store_end, host_end)
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, str(HERE / "wire.py"), *ends],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        self._expect("ready")

    def _expect(self, answer: str) -> None:
        out: IO[bytes] | None = self.process.stdout
        assert out is not None
        readable, _, _ = select.select([out], [], [], 10.0)
        line = out.readline().decode().strip() if readable else ""
        if line != answer:
            raise NetworkError(f"wire.py answered {line!r}, not {answer!r}")

    def send(self, command: str) -> None:
        """Apply a command (``cut``, ``heal``, ``impair MS LOSS``, ``clear``) and wait for it."""
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(command.encode() + b"\n")
        stdin.flush()
        self._expect(f"ok {command}")

    def close(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()  # end of input: the wire exits
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        stop_by_pid(self.process, signal.SIGKILL)
        if self.process.stdout is not None:
            self.process.stdout.close()


class Network:
    """The hosts' namespaces, the bridge and the cables; ``close()`` removes all of them."""

    def __init__(self) -> None:
        tag = f"cvmh{os.getpid()}"
        self.namespaces = {host: f"{tag}-{host}" for host in ADDRESSES}
        self.created: list[str] = []
        self.wires: dict[str, Wire] = {}

    def build(self) -> None:
        for namespace in self.namespaces.values():
            ip("netns", "add", namespace)
            self.created.append(namespace)
            ip("-n", namespace, "link", "set", "lo", "up")
        store = self.namespaces["store"]
        ip("-n", store, "link", "add", "br0", "type", "bridge")
        ip("-n", store, "addr", "add", f"{ADDRESSES['store']}/24", "dev", "br0")
        ip("-n", store, "link", "set", "br0", "up")
        producer = self.namespaces["producer"]
        # Both ends made straight in their namespaces: nothing passes through the machine's own.
        ip(
            "link",
            "add",
            "eth0",
            "netns",
            producer,
            "type",
            "veth",
            "peer",
            "name",
            "p-producer",
            "netns",
            store,
        )
        ip("-n", producer, "addr", "add", f"{ADDRESSES['producer']}/24", "dev", "eth0")
        ip("-n", producer, "link", "set", "eth0", "up")
        ip("-n", store, "link", "set", "p-producer", "master", "br0", "up")
        for host in WORKER_HOSTS:
            self._plug_wire(host)

    def _plug_wire(self, host: str) -> None:
        store, namespace = self.namespaces["store"], self.namespaces[host]
        store_end, host_end = f"p-{host}", f"h-{host}"
        self.wires[host] = Wire(store, store_end, host_end)
        ip("-n", store, "link", "set", host_end, "netns", namespace)
        ip("-n", namespace, "link", "set", host_end, "name", "eth0")
        ip("-n", namespace, "addr", "add", f"{ADDRESSES[host]}/24", "dev", "eth0")
        ip("-n", namespace, "link", "set", "eth0", "up")
        ip("-n", store, "link", "set", store_end, "master", "br0", "up")

    def run(
        self,
        host: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        stdout: IO[bytes] | int | None = None,
        stderr: IO[bytes] | int | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` on ``host`` (``ip netns exec`` execs it: the pid is the program's),
        in a session of its own."""
        return subprocess.Popen(
            ["ip", "netns", "exec", self.namespaces[host], *argv],
            env=dict(env),
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )

    def cut(self, host: str) -> None:
        self.wires[host].send("cut")

    def heal(self, host: str) -> None:
        self.wires[host].send("heal")

    def impair(self, host: str, delay_ms: float, loss: float) -> None:
        self.wires[host].send(f"impair {delay_ms:g} {loss:g}")

    def clear(self, host: str) -> None:
        self.wires[host].send("clear")

    def close(self) -> None:
        """Stop the cables and delete every namespace made (their interfaces go with them)."""
        for wire in self.wires.values():
            wire.close()
        errors = []
        for namespace in self.created:
            try:
                ip("netns", "del", namespace)
            except NetworkError as exc:
                errors.append(str(exc))
        if errors:
            raise NetworkError("; ".join(errors))
