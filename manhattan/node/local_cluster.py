"""A local multi-node cluster, one process per node: ``manhattan cluster up``.

Used for development, demos, tests and benchmarks. Each node gets its own
config file and data directory under ``<data-dir>/node<i>``; the shared admin
token and the endpoints go to ``<data-dir>/cluster.toml``. Starting again on
an existing data dir reuses the token and data.
"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import tomli_w

from manhattan.node.cluster_file import FILE_NAME, read_cluster_file, write_cluster_file
from manhattan.node.process import NodeProcess, free_port
from manhattan.security.certs import init_dev_certs
from manhattan.proto.v1 import admin_pb2, admin_pb2_grpc, cluster_pb2, cluster_pb2_grpc
from manhattan.security.tls import TlsFiles, channel
from manhattan.tenancy import generate_admin_token


class LocalCluster:
    """N node processes on one host, started and stopped together (by PID)."""

    def __init__(self, data_dir: Path, *, nodes: int = 3, base_port: int | None = 7100,
                 host: str = "127.0.0.1", extra_config: dict | None = None,
                 ports: list[int] | None = None, tls: bool = False,
                 node_config: dict[int, dict] | None = None) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        self.data_dir = Path(data_dir)
        self.host = host
        self.extra_config = extra_config or {}
        # Per node id, sections merged over extra_config (e.g. one node's clock).
        self.node_config = node_config or {}
        self.admin_token = self._admin_token()
        self.tls = tls
        """Serve TLS (mutual between nodes and for clients) with dev certs under certs/."""
        self.certs_dir = self.data_dir / "certs"
        self.client_tls = (TlsFiles(self.certs_dir / "ca.pem", self.certs_dir / "client.pem",
                                    self.certs_dir / "client.key") if tls else None)
        if ports is None and base_port is not None:
            ports = [base_port + i for i in range(1, nodes + 1)]
        self.nodes = [
            NodeProcess(self.data_dir / f"node{i}", node_id=i, host=host,
                        port=ports[i - 1] if ports else None,
                        log_path=self.data_dir / f"node{i}.log",
                        config_path=self.data_dir / f"node{i}.toml", tls=self.client_tls)
            for i in range(1, nodes + 1)
        ]
        # /metrics of node i: base-port + 100 + i when ports are fixed (stable scrape
        # targets for `make run`), else a free port; both go to the cluster file.
        self.metrics = [
            f"{host}:{base_port + 100 + i if base_port is not None else free_port(host)}"
            for i in range(1, nodes + 1)
        ]
        # The metadata log (Raft) of node i: base-port + 200 + i, else a free port.
        self.metadata_addresses = [
            f"{host}:{base_port + 200 + i if base_port is not None else free_port(host)}"
            for i in range(1, nodes + 1)
        ]

    def _admin_token(self) -> str:
        path = self.data_dir / FILE_NAME
        if path.exists():
            token = read_cluster_file(path).get("admin_token")
            if token:
                return str(token)
        return generate_admin_token()

    @property
    def endpoints(self) -> list[str]:
        """host:port of every node."""
        return [n.address for n in self.nodes]

    def node(self, node_id: int) -> NodeProcess:
        """The process of node ``node_id``."""
        return self.nodes[node_id - 1]

    def _write_configs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tls_files = None
        if self.tls:  # a dev CA and certificates, made once and kept
            init_dev_certs(self.certs_dir, nodes=len(self.nodes), hosts=[self.host])
            tls_files = {"ca": str(self.certs_dir.resolve() / "ca.pem"),
                         "cert": str(self.certs_dir.resolve() / "client.pem"),
                         "key": str(self.certs_dir.resolve() / "client.key")}
        members = [{"id": n.node_id, "address": n.address,
                    "metadata_address": self.metadata_addresses[n.node_id - 1]}
                   for n in self.nodes]
        for node in self.nodes:
            config = {section: dict(values) for section, values in self.extra_config.items()}
            for section, values in self.node_config.get(node.node_id, {}).items():
                config.setdefault(section, {}).update(values)
            config.setdefault("node", {}).update({"admin_token": self.admin_token})
            metrics = config["node"].setdefault("metrics_listen", self.metrics[node.node_id - 1])
            self.metrics[node.node_id - 1] = metrics  # as configured: "" means off
            config.setdefault("cluster", {})["members"] = members
            if self.tls:
                certs = self.certs_dir.resolve()
                config.setdefault("tls", {}).update({
                    "enabled": True, "ca": str(certs / "ca.pem"),
                    "cert": str(certs / f"node{node.node_id}.pem"),
                    "key": str(certs / f"node{node.node_id}.key")})
            with open(node.config_path, "wb") as fh:
                tomli_w.dump(config, fh)
            node.config_path.chmod(0o600)
        write_cluster_file(self.data_dir, self.endpoints, self.admin_token,
                           metrics=[m for m in self.metrics if m], tls=tls_files)

    def start(self, timeout: float = 60.0) -> "LocalCluster":
        """Write configs, start every node and wait until all serve."""
        self._write_configs()
        try:
            for node in self.nodes:
                node.start(timeout)
        except Exception:
            self.stop()
            raise
        return self

    def converged(self) -> bool:
        """Whether every running node sees every other running node alive, at one
        topology epoch (asked over the Cluster service, with the admin token), and
        answers an admin read (a barrier through the metadata log: a leader is elected,
        so the first admin command does not meet the election)."""
        running = [n for n in self.nodes if n.pid is not None]
        credentials = self.client_tls.channel_credentials() if self.client_tls else None
        metadata = (("authorization", f"Bearer {self.admin_token}"),)
        epochs = set()
        for node in running:
            try:
                with channel(node.address, credentials) as ch:
                    topology = cluster_pb2_grpc.ClusterStub(ch).GetTopology(
                        cluster_pb2.GetTopologyRequest(), timeout=5, metadata=metadata)
                    admin_pb2_grpc.AdminStub(ch).ListDatasets(
                        admin_pb2.ListDatasetsRequest(), timeout=5, metadata=metadata)
            except grpc.RpcError:
                return False
            alive = {m.id for m in topology.members if m.alive or m.id == node.node_id}
            if not {n.node_id for n in running} <= alive:
                return False
            epochs.add(topology.epoch)
        return len(epochs) <= 1

    def wait_converged(self, timeout: float = 60.0) -> "LocalCluster":
        """Block until ``converged()`` (every failure detector has heard from every
        running peer), polling; TimeoutError after ``timeout`` seconds. Tests and
        benchmarks start measuring only then."""
        deadline = time.monotonic() + timeout
        while not self.converged():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the cluster under {self.data_dir} did not converge "
                                   f"within {timeout:.0f}s")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        """SIGTERM every node at once, then wait for each (SIGKILL after the grace period)."""
        for node in self.nodes:
            node.terminate()
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
