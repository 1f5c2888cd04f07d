"""``manhattan social serve`` as a child process (``make run``, tests, benchmarks)."""

from __future__ import annotations

import sys
from pathlib import Path

from manhattan.node.process import NodeProcess


class SocialProcess(NodeProcess):
    """The social service in its own process on loopback, stopped by PID.

    ``data_dir`` is the cluster's directory (with ``cluster.toml``); the service
    writes ``social.toml`` there."""

    def __init__(self, data_dir: Path, *, port: int | None = None, host: str = "127.0.0.1",
                 options: list[str] | None = None, log_path: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        super().__init__(data_dir, node_id=0, port=port, host=host, env=env,
                         log_path=log_path or Path(data_dir) / "social.log")
        self.options = list(options or [])

    @property
    def api_token(self) -> str:
        """The token the service's callers present (social.toml, written once it serves)."""
        from manhattan.services.server import SOCIAL_FILE, read_social_file
        return str(read_social_file(self.data_dir / SOCIAL_FILE).get("api_token") or "")

    def command(self) -> list[str]:
        return [sys.executable, "-m", "manhattan.cli",
                "--cluster-file", str(self.data_dir / "cluster.toml"),
                "social", "serve", "--listen", self.address, *self.options]
