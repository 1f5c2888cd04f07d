"""Canaries: a fault of each checker's kind injected behind the system's back, so a run
must fail and name it (``--canary KIND[,KIND...]``; ``tests/jepsen`` runs them).

Each injection is real (a write straight into every replica over the node-to-node
stream, a message above the nodes' size limit, a partition held past the agreement
bound, another tenant's value under a tenant's token) or, where the fault is a broken
acknowledgement, a recorded acknowledgement of a change that was never sent. Every
injection is listed in the run's errors (``canary: ...``), so a canary run never passes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from manhattan.client import AlreadyExists, Timeout, Unavailable
from manhattan.storage.counters import CounterState

from jepsen.checkers.metadata import REVOKE_BOUND_S
from jepsen.cluster import MESSAGE_LIMIT, Cluster
from jepsen.history import OK, History, pairs
from jepsen.metadata import AdminWorkload, RevokeProbe, Shared
from jepsen.nemesis import partition_links
from jepsen.replicas import overwrite_on_every_replica
from jepsen.workloads import COUNTER_DATASET, Workload, make_client

# canary kind -> the check it must fail
CHECK_OF: dict[str, str] = {
    "set": "set-lost", "set-reads": "set-reads", "causal": "causal", "cas": "cas", "zombies": "zombies",
    "counter": "counter", "size": "size", "admin": "admin-changes",
    "agreement": "metadata-agreement", "revoke": "revocation", "tenant": "tenant-isolation",
    "membership": "membership",
}
KINDS = list(CHECK_OF)
CANARY_PROCESS = 990
CANARY_SHARD = 999  # a counter shard no node owns


def _create_across_a_leader_change(client: Any, tenant: str, attempts: int = 5) -> None:
    """Create ``tenant``; cutting node 1 off may depose the metadata leader mid-command
    ("outcome unknown (the leader changed)"), so an unknown outcome or an unavailable
    majority is retried (bounded) and AlreadyExists after a retry means the first landed."""
    for attempt in range(attempts):
        try:
            client.admin.create_tenant(tenant)
            return
        except AlreadyExists:
            if attempt == 0:
                raise
            return
        except (Timeout, Unavailable):
            if attempt == attempts - 1:
                raise
            time.sleep(1.0)


class Canary:
    """The injections of one run (none when ``kinds`` is empty)."""

    def __init__(self, kinds: list[str], cluster: Cluster, history: History,
                 errors: list[str]) -> None:
        self.kinds = set(kinds)
        self.cluster = cluster
        self.history = history
        self.errors = errors
        self._held: list[tuple[int, int]] = []
        self.shared: Shared | None = None
        # (admin workload, token id, secret, when its fake revoke was recorded)
        self._unrevoked: tuple[AdminWorkload, str, str, float] | None = None

    @property
    def _addresses(self) -> dict[int, str]:
        return {i: n.address for i, n in self.cluster.nodes.items()}

    def _note(self, text: str) -> None:
        self.errors.append(f"canary: {text}")

    # -- membership: after the heal and the restore -------------------------------------

    def membership_acked(self, restored: list[dict[str, Any]]) -> None:
        """``membership``: an add recorded as acknowledged (done, one epoch past the
        members' current one) that never ran."""
        if "membership" not in self.kinds:
            return
        address = self.cluster.nodes[sorted(self.cluster.nodes)[0]].address
        with make_client([address], self.cluster.token, pinned=True, timeout=10) as client:
            epoch = client.admin.topology().epoch
        restored.append({"node": 99, "action": "add", "epoch": epoch + 1,
                         "note": "canary: recorded as done, never run"})
        self._note(f"add of node 99 recorded as done at epoch {epoch + 1}, never run")

    # -- metadata: before the post-heal snapshot rounds -----------------------------------

    def before_metadata(self, admin: AdminWorkload, shared: Shared) -> None:
        self.shared = shared
        if "admin" in self.kinds:
            h = self.history
            h.append(CANARY_PROCESS, "invoke", "create-tenant", "ghost-canary", None,
                     workload="admin")
            h.append(CANARY_PROCESS, OK, "create-tenant", "ghost-canary", True, workload="admin")
            self._note("create-tenant ghost-canary recorded as acknowledged, never sent")
        if "revoke" in self.kinds:
            self._revoke_not_sent(admin, shared)

    def _revoke_not_sent(self, admin: AdminWorkload, shared: Shared) -> None:
        """A token revoke recorded as acked, never sent; ``after_metadata`` probes it once
        the bound has passed (the snapshot rounds in between spend part of the wait)."""
        tenant = sorted(shared.tokens)[0]
        secret, info = admin.client.admin.create_token(tenant, timeout=10)
        h = self.history
        h.append(CANARY_PROCESS, "invoke", "revoke-token", info.token_id, None, workload="admin")
        h.append(CANARY_PROCESS, OK, "revoke-token", info.token_id, True, workload="admin")
        self._note(f"revoke-token {info.token_id} recorded as acknowledged, never sent")
        self._unrevoked = (admin, info.token_id, secret, time.monotonic())

    def after_metadata(self) -> None:
        """``revoke``: every node probed with the token past the bound (it must accept it)."""
        if self._unrevoked is None:
            return
        admin, token_id, secret, acked = self._unrevoked
        time.sleep(max(0.0, acked + REVOKE_BOUND_S + 0.5 - time.monotonic()))
        prober = RevokeProbe(admin.env, CANARY_PROCESS + 1, admin.shared)
        try:
            for i, address in self._addresses.items():
                prober.invoke(CANARY_PROCESS + 1, "probe", token_id, f"n{i}",
                              lambda: prober._probe(address, secret))
        finally:
            prober.close()

    @contextlib.contextmanager
    def holding_partition(self) -> Iterator[None]:
        """``agreement``: node 1 cut from the others while a tenant is created through the
        majority, held through the snapshot rounds (past their bound)."""
        c = self.cluster
        if "agreement" not in self.kinds:
            yield
            return
        if c.net.mode == "proxy":  # Raft names voters by endpoint: its links go direct
            c.net.notes.append("agreement canary not run: in proxy mode the metadata "
                               "log's links are not cut")
            yield
            return
        ids = sorted(c.nodes)
        links = partition_links("partition-one", ids, [ids[0]])
        c.net.cut(links)
        try:
            address = c.nodes[ids[1]].address
            with make_client([address], c.token, pinned=True, timeout=10) as client:
                _create_across_a_leader_change(client, "split-canary")
            self._note(f"node {ids[0]} cut off while tenant split-canary was created, held "
                       "past the agreement bound")
            yield
        finally:
            c.net.heal()

    # -- data: after convergence, before the final reads ----------------------------------

    def before_final_reads(self, workloads: list[Workload]) -> None:
        by_name = {w.name: w for w in workloads}
        if self.kinds & {"set", "set-reads"}:
            victim = next(str(p.invoke.value) for p in pairs(self.history.ops("set"))
                          if p.type == OK and p.invoke.f == "add")
            bucket, _, lkey = victim.partition(":")
            self._overwrite(bucket, lkey, None)
            self._note(f"erased acknowledged element {victim} on every replica")
        if "causal" in self.kinds:
            self._causal(self.history.ops("causal"))
        if "cas" in self.kinds:
            self._cas(self.history.ops("cas-register"))
        if "zombies" in self.kinds:
            self._zombie(self.history.ops("deletes"))
        if "counter" in self.kinds:
            acked = max((int(p.complete.value) for p in pairs(self.history.ops("counter"))
                         if p.type == OK and p.invoke.key == "ctr-0" and p.complete), default=0)
            # A shard no node owns, merged into the counter dataset's ctr-0 on every replica.
            state = CounterState({CANARY_SHARD: (acked + 1000, 0)}, {}).encode()
            overwrite_on_every_replica(self._addresses, self.cluster.token, COUNTER_DATASET,
                                       "ctr-0", "", state, counter=True)
            self._note(f"counter ctr-0 set to {acked + 1000}: increments nobody made")
        if "size" in self.kinds and "neighbour" in by_name:
            self._oversized(by_name["neighbour"])
        if "tenant" in self.kinds and self.shared is not None:
            self._foreign_value()

    def _overwrite(self, pkey: str, lkey: str, value: bytes | None) -> None:
        overwrite_on_every_replica(self._addresses, self.cluster.token, "jepsen", pkey, lkey,
                                   value)

    def _causal(self, ops: list[Any]) -> None:
        acked = sorted((p for p in pairs(ops) if p.type == OK and p.invoke.f == "write"
                        and p.complete is not None), key=lambda p: p.complete.time)
        for b in reversed(acked):
            older = [a for a in acked if a.invoke.key == b.invoke.key
                     and a.complete.time < b.invoke.time]
            if older:
                value = str(older[-1].invoke.value)
                self._overwrite(b.invoke.key, "", value.encode())
                self._note(f"register {b.invoke.key} set back to {value}, written before "
                           f"{b.invoke.value} began")
                return
        raise RuntimeError("causal canary: no key with two writes in real-time order")

    def _cas(self, ops: list[Any]) -> None:
        """The register of the last acknowledged swap set to a value nobody wrote."""
        swapped = [p for p in pairs(ops) if p.type == OK and p.invoke.f == "cas"
                   and p.complete is not None and p.complete.value[0] == "ok"]
        if not swapped:
            raise RuntimeError("cas canary: no acknowledged compare-and-set")
        key = swapped[-1].invoke.key
        self._overwrite(key, "", b"canary-never-acked")
        self._note(f"SERIAL register {key} set to canary-never-acked on every replica, a value "
                   "no compare-and-set wrote")

    def _zombie(self, ops: list[Any]) -> None:
        ps = [p for p in pairs(ops) if p.type == OK and p.complete is not None]
        for d in reversed(ps):
            if d.invoke.f != "delete":
                continue
            written = [w for w in ps if w.invoke.f == "write" and w.invoke.key == d.invoke.key
                       and w.complete.time < d.invoke.time]
            if written:
                value = str(written[-1].invoke.value)
                self._overwrite(f"del-{d.invoke.key}", "", value.encode())
                self._note(f"deleted value {value} of {d.invoke.key} written back")
                return
        raise RuntimeError("zombie canary: no acknowledged delete of an acknowledged write")

    def _oversized(self, neighbour: Workload) -> None:
        limit = MESSAGE_LIMIT
        value = b"x" * (limit + 1024 * 1024)
        neighbour.invoke(CANARY_PROCESS, "add", "", "nb0:canary-oversized", lambda: neighbour.ds.put(
            "nb0", "canary-oversized", value, timeout=10) and None)
        self._note(f"a {len(value)} byte value sent to a node whose message limit is {limit}")

    def _foreign_value(self) -> None:
        assert self.shared is not None
        with self.shared.lock:
            owned = sorted(self.shared.owner.items())
            tokens = dict(self.shared.tokens)
        if not owned:
            raise RuntimeError("tenant canary: no dataset is owned")
        name, tenant = owned[0]
        with make_client(list(self._addresses.values()), tokens[tenant], pinned=False) as c:
            c.dataset(name).put("k0", "", "intruder|canary", timeout=10)
        self._note(f"value of tenant 'intruder' written into {tenant}'s dataset {name} (k0)")
