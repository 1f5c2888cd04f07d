"""A single Redis server and a 3-master + 3-replica Redis Cluster, on loopback.

Both persist like a production Redis: an append-only file fsynced every second
(``appendfsync everysec``), the closest to Manhattan's BUFFERED writes (in the
WAL, fsynced in the background). Redis Cluster replicates asynchronously: a
write is acknowledged by its master alone, like a Manhattan write at ONE.
Clients are redis-py with hiredis, the same language as Manhattan's SDK.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis
from redis.cluster import ClusterNode, RedisCluster

from manhattan.bench.peers.install import ensure, version
from manhattan.bench.peers.server import ServerProcess
from manhattan.node.process import free_port

HOST = "127.0.0.1"
FSYNC_POLICIES = ("everysec", "always")  # appendfsync: BUFFERED-like, SYNC-like


def _persistence(appendfsync: str) -> list[str]:
    if appendfsync not in FSYNC_POLICIES:
        raise ValueError(f"appendfsync must be one of {FSYNC_POLICIES}, got {appendfsync!r}")
    return ["--appendonly", "yes", "--appendfsync", appendfsync, "--save", ""]


def _server(name: str, workdir: Path, port: int, binary: str, extra: list[str],
            appendfsync: str = "everysec") -> ServerProcess:
    command = [binary, "--bind", HOST, "--port", str(port), "--dir", str(workdir),
               "--daemonize", "no", "--protected-mode", "no", *_persistence(appendfsync),
               *extra]
    return ServerProcess(name, command, workdir,
                         ready=lambda: redis.Redis(HOST, port, socket_timeout=1).ping())


def _cluster_ports() -> tuple[int, int]:
    """A free port and a free cluster-bus port for one cluster node. The bus is set
    explicitly (``--cluster-port``, Redis 7): its default, port + 10000, falls outside
    the range free ports are handed out from (into the kernel's ephemeral ports, where a
    client connection may hold it, or past 65535) and made redis-server exit at start."""
    return free_port(HOST), free_port(HOST)


class RedisServer:
    """One redis-server process."""

    def __init__(self, workdir: Path) -> None:
        binary = ensure("redis-server")["redis-server"]
        self.version = version(binary)
        self.port = free_port(HOST)
        self.process = _server("redis", workdir / "redis", self.port, binary, [])

    @property
    def pids(self) -> list[int]:
        return [pid for pid in (self.process.pid,) if pid is not None]

    def start(self) -> "RedisServer":
        self.process.start()
        return self

    def stop(self) -> None:
        self.process.stop()

    def client(self) -> redis.Redis:
        return redis.Redis(HOST, self.port)


class RedisClusterServers:
    """Six redis-server processes joined by ``redis-cli --cluster create`` (3 + 3).

    ``appendfsync="always"`` fsyncs every write before the reply: with ``WAIT 1``
    after it, the like-for-like peer of a Manhattan SYNC QUORUM write.
    """

    def __init__(self, workdir: Path, masters: int = 3, replicas: int = 1,
                 appendfsync: str = "everysec") -> None:
        paths = ensure("redis-server", "redis-cli")
        self.version = version(paths["redis-server"])
        self.redis_cli = paths["redis-cli"]
        self.replicas = replicas
        pairs = [_cluster_ports() for _ in range(masters * (1 + replicas))]
        self.ports = [port for port, _ in pairs]
        self.processes = [
            _server(f"redis-cluster-{port}", workdir / f"redis-cluster-{port}", port,
                    paths["redis-server"],
                    ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", "5000", "--cluster-port", str(bus)],
                    appendfsync)
            for port, bus in pairs
        ]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    def start(self, timeout: float = 60.0) -> "RedisClusterServers":
        try:
            for process in self.processes:
                process.start()
            subprocess.run(
                [self.redis_cli, "--cluster", "create",
                 *(f"{HOST}:{port}" for port in self.ports),
                 "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                check=True, capture_output=True, timeout=timeout)
            self._wait_ok(timeout)
        except Exception:
            self.stop()
            raise
        return self

    def _wait_ok(self, timeout: float) -> None:
        """Until every node says cluster_state:ok and the replicas are attached."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            infos = [redis.Redis(HOST, port).cluster("info") for port in self.ports]
            if all(info.get("cluster_state") == "ok" and
                   int(info.get("cluster_known_nodes", 0)) == len(self.ports)
                   for info in infos):
                return
            time.sleep(0.2)
        raise TimeoutError(f"the Redis Cluster did not reach cluster_state:ok in {timeout:.0f} s")

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def client(self) -> RedisCluster:
        return RedisCluster(startup_nodes=[ClusterNode(HOST, port) for port in self.ports])
