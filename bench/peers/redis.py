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
CLUSTER_BUS_OFFSET = 10_000  # a cluster node also listens on port + 10000
PERSISTENCE = ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]


def _server(name: str, workdir: Path, port: int, binary: str, extra: list[str]
            ) -> ServerProcess:
    command = [binary, "--bind", HOST, "--port", str(port), "--dir", str(workdir),
               "--daemonize", "no", "--protected-mode", "no", *PERSISTENCE, *extra]
    return ServerProcess(name, command, workdir,
                         ready=lambda: redis.Redis(HOST, port, socket_timeout=1).ping())


def _cluster_port(attempts: int = 1000) -> int:
    """A free port whose cluster-bus port (+10000) exists too: redis-server exits at
    start when the bus port would pass 65535, and free ports often are that high."""
    for _ in range(attempts):
        port = free_port(HOST)
        if port + CLUSTER_BUS_OFFSET <= 65535:
            return port
    raise RuntimeError(f"no free port below {65535 - CLUSTER_BUS_OFFSET + 1} for Redis Cluster")


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
    """Six redis-server processes joined by ``redis-cli --cluster create`` (3 + 3)."""

    def __init__(self, workdir: Path, masters: int = 3, replicas: int = 1) -> None:
        paths = ensure("redis-server", "redis-cli")
        self.version = version(paths["redis-server"])
        self.redis_cli = paths["redis-cli"]
        self.replicas = replicas
        self.ports = [_cluster_port() for _ in range(masters * (1 + replicas))]
        self.processes = [
            _server(f"redis-cluster-{port}", workdir / f"redis-cluster-{port}", port,
                    paths["redis-server"],
                    ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", "5000"])
            for port in self.ports
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
