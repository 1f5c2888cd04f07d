"""Run a storage node as a child process: for ``make run``, tests and benchmarks.

Every process is started by this module and ended by its PID (SIGTERM, then
SIGKILL after a grace period), never by name.
"""

from __future__ import annotations

import fcntl
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from manhattan.node.cluster_file import FILE_NAME, read_cluster_file
from manhattan.security.tls import TlsFiles, channel


PORT_RANGE_ENV = "MANHATTAN_PORT_RANGE"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago.

    With ``MANHATTAN_PORT_RANGE=LOW-HIGH`` set (the test suite sets it; the processes it
    starts inherit it), ports come from that range in turn, every process sharing one
    counter: below the kernel's ephemeral range, so an outgoing connection cannot take a
    port between this check and a node's bind, and never handed to two processes at
    once. Otherwise the kernel picks one."""
    span = os.environ.get(PORT_RANGE_ENV)
    if not span:
        return _bind_test(host, 0)
    low, high = (int(part) for part in span.split("-", 1))
    width = high - low + 1
    for _ in range(width):
        port = low + _next_in_range(span, width)
        try:
            return _bind_test(host, port)
        except OSError:
            continue
    raise OSError(f"no free port in {PORT_RANGE_ENV}={span}")


def _next_in_range(span: str, width: int) -> int:
    """The next pick of a range, shared by every process that uses it (a test worker and
    the benchmark or harness processes it starts): a counter in a locked file, so no two
    processes pick the same port between the pick and a node's bind."""
    path = Path(tempfile.gettempdir()) / f"manhattan-ports-{span}"
    with open(path, "a+", encoding="ascii") as counter:
        fcntl.flock(counter, fcntl.LOCK_EX)  # released when the file closes
        counter.seek(0)
        text = counter.read().strip()
        pick = int(text) if text.isdigit() else random.randrange(width)
        counter.seek(0)
        counter.truncate()
        counter.write(str((pick + 1) % width))
    return pick


def _bind_test(host: str, port: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, port))
        return sock.getsockname()[1]


def wait_serving(address: str, timeout: float, proc: subprocess.Popen | None = None,
                 tls: TlsFiles | None = None) -> None:
    """Block until the node at ``address`` reports SERVING; raise on timeout or exit.
    ``tls``: how to dial a node that serves TLS (CA, and client certificate)."""
    deadline = time.monotonic() + timeout
    credentials = tls.channel_credentials() if tls is not None else None
    with channel(address, credentials) as grpc_channel:
        stub = health_pb2_grpc.HealthStub(grpc_channel)
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"node at {address} exited with code {proc.returncode}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=0.5)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.05)
    raise TimeoutError(f"node at {address} did not become healthy within {timeout}s")


class NodeProcess:
    """A ``manhattan node start`` child process on loopback."""

    def __init__(
        self,
        data_dir: Path,
        *,
        node_id: int = 1,
        port: int | None = None,
        host: str = "127.0.0.1",
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        config_path: Path | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.tls = tls
        """How a client dials this node when it serves TLS (None: plaintext)."""
        self.node_id = node_id
        self.port = port or free_port(host)
        self.address = f"{host}:{self.port}"
        self.env = dict(env or {})
        self.log_path = log_path or self.data_dir.parent / f"node{node_id}.log"
        self.config_path = config_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._terminating = False

    @property
    def pid(self) -> int | None:
        """The PID of the running process, if any."""
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def command(self) -> list[str]:
        """The command line of the child process."""
        command = [
            sys.executable, "-m", "manhattan.cli", "node", "start",
            "--id", str(self.node_id), "--listen", self.address, "--data-dir", str(self.data_dir),
        ]
        if self.config_path is not None:
            command += ["--config", str(self.config_path)]
        return command

    def start(self, timeout: float = 30.0) -> "NodeProcess":
        """Spawn the node and wait until it serves."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = self.command()
        env = {**os.environ, **self.env}
        self._terminating = False
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         stdin=subprocess.DEVNULL)
        finally:
            log.close()
        try:
            wait_serving(self.address, timeout, self.proc, self.tls)
        except Exception:
            self.kill()
            raise RuntimeError(f"node {self.node_id} failed to start; log:\n{self.log_tail()}")
        return self

    def terminate(self) -> None:
        """Send SIGTERM once, without waiting (``stop`` waits). A second SIGTERM would
        reach a node that is already draining after its handler is gone and end it -15."""
        if self.proc is not None and self.proc.poll() is None and not self._terminating:
            self._terminating = True
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM and wait (graceful drain); SIGKILL if it does not exit in time."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to flush anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def admin_token(self) -> str:
        """The admin token from the node's cluster file."""
        return str(read_cluster_file(self.data_dir / FILE_NAME)["admin_token"])

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the node's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> "NodeProcess":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
