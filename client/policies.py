"""Routing policies: which endpoints to try for an operation, best first.

In the spirit of the Cassandra python-driver: the client asks a routing policy
for a query plan (the endpoints to try, in order) and executes it; retries are
the retry policy's (``manhattan.client.retry``). ``TokenAwarePolicy(child)``
decorates another policy to put the key's replicas first.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from manhattan.client.operations import Operation

if TYPE_CHECKING:
    from manhattan.client.topology import TopologyCache


@runtime_checkable
class RoutingPolicy(Protocol):
    """Chooses the endpoints to try for an operation, best first.

    A policy implements ``query_plan``; the two hooks have no-op defaults for a
    policy that subclasses this protocol: the client calls ``populate`` once with
    its TopologyCache (to see every member, its liveness and the ring) and
    ``answered`` after every attempt.
    """

    def query_plan(self, op: Operation[Any]) -> Sequence[str]:
        """Endpoints in the order to try them."""
        ...

    def populate(self, topology: "TopologyCache") -> None:
        """Follow ``topology`` from now on."""

    def answered(self, endpoint: str | None) -> None:
        """``endpoint`` just answered a call; None: the attempt failed."""


class RoundRobinPolicy(RoutingPolicy):
    """Spreads requests over its endpoints, starting at a rotating one.

    With ``discover`` the endpoints are the seeds plus every member the topology
    names (the client's default); without it, exactly the endpoints given. Once
    populated, members the topology reports down go after the live ones.
    """

    def __init__(self, endpoints: Sequence[str], *, discover: bool = False) -> None:
        if not endpoints:
            raise ValueError("at least one endpoint is needed")
        self.discover = discover
        self._seeds = list(dict.fromkeys(endpoints))
        self._endpoints = list(self._seeds)
        self._counter = itertools.count(random.randrange(len(self._endpoints)))
        self._topology: TopologyCache | None = None
        self._seen_version = -1

    def populate(self, topology: "TopologyCache") -> None:
        """Follow ``topology`` (member addresses if discovering, and liveness)."""
        self._topology = topology

    @property
    def endpoints(self) -> list[str]:
        """The endpoints now: the seeds, then (discovering) the members learned since."""
        topology = self._topology
        if self.discover and topology is not None and topology.version != self._seen_version:
            version = topology.version
            self._endpoints = list(dict.fromkeys([*self._seeds, *topology.addresses]))
            self._seen_version = version
        return self._endpoints

    def query_plan(self, op: Operation[Any]) -> Sequence[str]:
        """Every endpoint, from a rotating start; known-dead ones last."""
        endpoints = self.endpoints
        start = next(self._counter) % len(endpoints)
        plan = endpoints[start:] + endpoints[:start]
        dead = self._topology.dead_addresses if self._topology is not None else frozenset()
        if dead:
            plan = [e for e in plan if e not in dead] + [e for e in plan if e in dead]
        return plan


class TokenAwarePolicy(RoutingPolicy):
    """Puts the live replicas of an operation's pkey first, then the child's plan.

    Replicas come from the topology, so they may be nodes the child does not list.
    Multi-key and admin calls (no pkey), and every call before the topology is
    known, get the child's plan unchanged. ``shuffle_replicas`` rotates the
    replicas between calls to spread load over them; otherwise the primary
    replica always comes first.

    ``sticky``: the replica that answered this client's previous call goes first
    whenever it is a live replica of the key (then the others, rotated or not).
    A caller that sends one request at a time then keeps one coordinator hot
    instead of waking a different node process for every call — on a small
    box that wake-up is a large share of a point read. Many clients still
    spread over the nodes (each sticks where its first answer came from); a
    failed attempt drops the stickiness at once.
    """

    def __init__(self, child: RoutingPolicy, *, shuffle_replicas: bool = True,
                 sticky: bool = False) -> None:
        self.child = child
        self.shuffle_replicas = shuffle_replicas
        self.sticky = sticky
        self._last_answer: str | None = None
        self._topology: TopologyCache | None = None
        self._counter = itertools.count(random.randrange(1 << 16))

    def answered(self, endpoint: str | None) -> None:
        """``endpoint`` just answered a call; None: the last call failed (sticky routing
        follows it); the child hears it too."""
        self._last_answer = endpoint
        self.child.answered(endpoint)

    def populate(self, topology: "TopologyCache") -> None:
        """Route with ``topology``; the child is populated with it too."""
        self._topology = topology
        self.child.populate(topology)

    def replicas(self, op: Operation[Any]) -> list[str]:
        """Addresses of the live replicas of ``op.pkey``, primary first (empty if unknown)."""
        topology = self._topology
        if op.pkey is None or topology is None:
            return []
        return [m.address for m in topology.replicas(op.dataset, op.pkey)
                if topology.is_alive(m.id)]

    def query_plan(self, op: Operation[Any]) -> Sequence[str]:
        """Live replicas (rotated if shuffling), then the child's other endpoints."""
        child_plan = self.child.query_plan(op)
        replicas = self.replicas(op)
        if not replicas:
            return child_plan
        if op.primary_first:  # e.g. a counter add: its shard owner coordinates, no hop
            chosen = set(replicas)
            return replicas + [e for e in child_plan if e not in chosen]
        if self.shuffle_replicas and len(replicas) > 1:
            start = next(self._counter) % len(replicas)
            replicas = replicas[start:] + replicas[:start]
        last = self._last_answer
        if self.sticky and last is not None and last != replicas[0] and last in replicas:
            replicas.remove(last)
            replicas.insert(0, last)
        chosen = set(replicas)
        return replicas + [e for e in child_plan if e not in chosen]


__all__ = ["RoundRobinPolicy", "RoutingPolicy", "TokenAwarePolicy"]
