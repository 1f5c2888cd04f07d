"""A local multi-node cluster, one process per node: ``manhattan cluster up``.

Used for development, demos, tests and benchmarks. Each node gets its own
config file and data directory under ``<data-dir>/node<i>``; the shared admin
token and the endpoints go to ``<data-dir>/cluster.toml``. Starting again on
an existing data dir reuses the token and data.
"""

from __future__ import annotations

from pathlib import Path

import tomli_w

from manhattan.node.cluster_file import FILE_NAME, read_cluster_file, write_cluster_file
from manhattan.node.process import NodeProcess
from manhattan.tenancy import generate_admin_token


class LocalCluster:
    """N node processes on one host, started and stopped together (by PID)."""

    def __init__(self, data_dir: Path, *, nodes: int = 3, base_port: int | None = 7100,
                 host: str = "127.0.0.1", extra_config: dict | None = None,
                 ports: list[int] | None = None) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        self.data_dir = Path(data_dir)
        self.host = host
        self.extra_config = extra_config or {}
        self.admin_token = self._admin_token()
        if ports is None and base_port is not None:
            ports = [base_port + i for i in range(1, nodes + 1)]
        self.nodes = [
            NodeProcess(self.data_dir / f"node{i}", node_id=i, host=host,
                        port=ports[i - 1] if ports else None,
                        log_path=self.data_dir / f"node{i}.log",
                        config_path=self.data_dir / f"node{i}.toml")
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
        members = [{"id": n.node_id, "address": n.address} for n in self.nodes]
        for node in self.nodes:
            config = {section: dict(values) for section, values in self.extra_config.items()}
            config.setdefault("node", {}).update({"admin_token": self.admin_token})
            config.setdefault("cluster", {})["members"] = members
            with open(node.config_path, "wb") as fh:
                tomli_w.dump(config, fh)
            node.config_path.chmod(0o600)
        write_cluster_file(self.data_dir, self.endpoints, self.admin_token)

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
