"""``<data-dir>/cluster.toml``: how local tools find a cluster and its admin token.

Written by the server (mode 0600) so that ``manhattan`` commands on the same
machine need no flags.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

FILE_NAME = "cluster.toml"


def write_cluster_file(data_dir: Path, endpoints: list[str], admin_token: str, *,
                       metrics: list[str] | None = None,
                       tls: dict[str, str] | None = None) -> Path:
    """Write (atomically, 0600) the endpoints and admin token, and the nodes' /metrics
    addresses when known (for a Prometheus scrape config)."""
    content: dict[str, Any] = {"endpoints": endpoints, "admin_token": admin_token}
    if metrics:
        content["metrics"] = metrics
    if tls:  # ca, cert, key: how local tools dial a TLS cluster
        content["tls"] = tls
    return write_private_toml(Path(data_dir) / FILE_NAME, content)


def write_private_toml(path: Path, content: dict[str, Any]) -> Path:
    """Write a TOML file holding secrets: atomically (rename) and readable by the owner only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        tomli_w.dump(content, fh)
    os.replace(tmp, path)
    return path


def read_cluster_file(path: Path) -> dict[str, Any]:
    """The parsed cluster file (or any TOML file written by ``write_private_toml``)."""
    with open(path, "rb") as fh:
        return tomllib.load(fh)
