"""Calling every node of the cluster, one at a time, for per-node admin calls.

NodeInfo and snapshots answer for the node asked, so each node gets its own
client pinned to its address (no routing elsewhere, no retries on another node).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from manhattan.cli.context import CliSettings, connect
from manhattan.client import Client, ClusterTopology, ManhattanError, MemberInfo, RoundRobinPolicy
from manhattan.security.tls import TlsFiles

T = TypeVar("T")


def node_client(address: str, token: str | None, timeout: float,
                tls: TlsFiles | None = None) -> Client:
    """A client that talks to ``address`` only."""
    return Client([address], token=token, timeout=timeout,
                  routing=RoundRobinPolicy([address]), tls=tls)


def cluster_topology(ctx: click.Context) -> ClusterTopology:
    """The members, as whichever node answers first sees them."""
    with connect(ctx) as client:
        return client.admin.topology()


def each_node(ctx: click.Context, call: Callable[[Client], T], *, timeout: float | None = None,
              topology: ClusterTopology | None = None,
              on_progress: Callable[[int, int], None] | None = None
              ) -> list[tuple[MemberInfo, T | ManhattanError]]:
    """``call`` on every member in id order: its result, or the error it raised;
    ``on_progress(done, total)`` after each member (for a progress bar).

    Members believed down are asked too: the answer (or the error) says more than
    the failure detector of another node."""
    settings = ctx.find_object(CliSettings)
    token = settings.resolve()[1]
    topology = topology or cluster_topology(ctx)
    results: list[tuple[MemberInfo, T | ManhattanError]] = []
    members = sorted(topology.members, key=lambda m: m.id)
    for member in members:
        try:
            with node_client(member.address, token, timeout or settings.timeout,
                             settings.tls()) as client:
                results.append((member, call(client)))
        except ManhattanError as exc:
            results.append((member, exc))
        if on_progress is not None:
            on_progress(len(results), len(members))
    return results
