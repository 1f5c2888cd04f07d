"""Convergence: after healing, every replica holds the same version of every key, and no
replica holds a version older than the newest one acknowledged to a client.

Input: ``snapshots[key][node] = (timestamp, writer, tombstone, value_hash) | None`` read
from each replica's local store (the node-to-node read, which does not repair), and
``acked[key]`` = the newest (timestamp, writer) acknowledged for the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Digest = tuple[int, int, bool, str] | None


def check_convergence(snapshots: Mapping[str, Mapping[str, Digest]],
                      acked: Mapping[str, tuple[int, int]], *,
                      sample: int = 10) -> dict[str, Any]:
    """Count divergent keys and replicas behind an acknowledged write."""
    divergent: list[dict[str, Any]] = []
    behind: list[dict[str, Any]] = []
    for key, replicas in snapshots.items():
        digests = set(replicas.values())
        if len(digests) > 1:
            divergent.append({"key": key, "replicas": {n: d for n, d in replicas.items()}})
        newest = acked.get(key)
        if newest is None:
            continue
        for node, digest in replicas.items():
            if digest is None or (digest[0], digest[1]) < tuple(newest):
                behind.append({"key": key, "node": node, "has": digest, "acked": list(newest)})
    return {
        "valid": not divergent and not behind, "keys": len(snapshots),
        "divergent_count": len(divergent), "divergent": divergent[:sample],
        "behind_count": len(behind), "behind": behind[:sample],
    }
