"""A hypothesis state machine adds to counters through every node of a real 3-node
cluster, retries op ids (its own and the SDK's), and pauses (SIGSTOP) or kills nodes,
against a plain model: at the end every counter equals the sum of the acknowledged
deltas plus some of the adds whose outcome stayed unknown, each counted at most once,
and every replica holds that same value."""

from __future__ import annotations

import os
import signal
import uuid

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle, RuleBasedStateMachine, precondition, rule, run_state_machine_as_test,
)

from manhattan.client import Consistency, ManhattanError
from manhattan.node.local_cluster import LocalCluster
from tests.clusters import eventually, new_dataset, only, wait_until_up

Q, ONE, ALL = Consistency.QUORUM, Consistency.ONE, Consistency.ALL
NODES = st.sampled_from([1, 2, 3])
COUNTERS = st.sampled_from(["likes", "views"])
DELTAS = st.integers(-50, 50)
CALL_S = 6.0  # every call is bounded: a paused owner costs at most this


def reachable_sums(deltas: list[int]) -> set[int]:
    """Every sum of a sub-multiset of ``deltas`` (each counted 0 or 1 times)."""
    sums = {0}
    for delta in deltas:
        sums |= {s + delta for s in sums}
    return sums


class CounterMachine(RuleBasedStateMachine):
    """Adds, retries and faults; the model keeps acknowledged and unknown adds."""

    cluster: LocalCluster
    token: str
    dataset: str

    ops = Bundle("ops")

    def __init__(self) -> None:
        super().__init__()
        self.pkey = f"post-{uuid.uuid4().hex[:8]}"  # examples share the dataset, not keys
        self.acked: dict[bytes, tuple[str, int]] = {}
        self.unknown: dict[bytes, tuple[str, int]] = {}
        self.lost_ids: list[tuple[str, int]] = []  # unknown outcome, op id not known
        self.faulted: tuple[int, str] | None = None  # (node, "paused" | "killed")
        self.clients = {n.node_id: only(n.address, self.token) for n in self.cluster.nodes}

    def _dataset(self, node_id: int):
        if self.faulted is not None and self.faulted[0] == node_id:
            node_id = node_id % 3 + 1  # through a live node (the owner may still be faulted)
        return self.clients[node_id].dataset(self.dataset)

    def _add(self, node_id: int, counter: str, delta: int, op_id: bytes | None) -> bytes | None:
        try:
            result = self._dataset(node_id).add(self.pkey, counter, delta, op_id=op_id,
                                                consistency=Q, timeout=CALL_S)
        except ManhattanError:
            if op_id is None:  # the SDK's op id, unknown to us: never retried
                self.lost_ids.append((counter, delta))
            elif op_id not in self.acked:
                self.unknown[op_id] = (counter, delta)
            return op_id
        if op_id is not None and op_id in self.acked:
            assert not result.counted, f"op id {op_id!r} counted twice"
        self.unknown.pop(result.op_id, None)
        self.acked[result.op_id] = (counter, delta)
        return result.op_id

    # -- adds -------------------------------------------------------------------------

    @rule(target=ops, node=NODES, counter=COUNTERS, delta=DELTAS)
    def add(self, node: int, counter: str, delta: int) -> bytes:
        """The SDK makes the op id (and reuses it on its own retries)."""
        op_id = self._add(node, counter, delta, None)
        return op_id or b"never-sent"

    @rule(target=ops, node=NODES, counter=COUNTERS, delta=DELTAS)
    def add_with_op_id(self, node: int, counter: str, delta: int) -> bytes:
        op_id = uuid.uuid4().bytes
        self._add(node, counter, delta, op_id)
        return op_id

    @rule(op_id=ops, node=NODES)
    def retry(self, op_id: bytes, node: int) -> None:
        """The same op again, through any node: counted at most once overall."""
        known = self.acked.get(op_id) or self.unknown.get(op_id)
        if known is not None:
            self._add(node, known[0], known[1], op_id)

    # -- faults -----------------------------------------------------------------------

    @rule(node=NODES)
    @precondition(lambda self: self.faulted is None)
    def pause(self, node: int) -> None:
        os.kill(self.cluster.node(node).pid, signal.SIGSTOP)
        self.faulted = (node, "paused")

    @rule(node=NODES)
    @precondition(lambda self: self.faulted is None)
    def kill(self, node: int) -> None:
        self.cluster.node(node).kill()
        self.faulted = (node, "killed")

    @rule()
    @precondition(lambda self: self.faulted is not None)
    def heal(self) -> None:
        node, how = self.faulted
        if how == "paused":
            os.kill(self.cluster.node(node).pid, signal.SIGCONT)
        else:
            self.cluster.node(node).start()
        self.faulted = None
        wait_until_up(self.cluster, node)

    # -- the end ----------------------------------------------------------------------

    def teardown(self) -> None:
        try:
            if self.faulted is not None:
                self.heal()
            for counter in ("likes", "views"):
                acked = sum(d for c, d in self.acked.values() if c == counter)
                unknown = [d for c, d in [*self.unknown.values(), *self.lost_ids]
                           if c == counter]
                value = self._settled(counter)
                assert value - acked in reachable_sums(unknown), (
                    f"{counter}: {value} is not {acked} acknowledged plus some of {unknown}")
                assert eventually(lambda: self._everywhere(counter) == {value}, timeout=30), (
                    f"{counter}: replicas hold {self._everywhere(counter)}, not {value}")
        finally:
            for client in self.clients.values():
                client.close()

    def _settled(self, counter: str) -> int:
        """The counter read at ALL (asked again, bounded, while links warm up)."""
        values: list[int] = []

        def read() -> bool:
            try:
                values.append(self._dataset(1).counter(self.pkey, counter, consistency=ALL,
                                                       timeout=CALL_S))
            except ManhattanError:
                return False
            return True

        assert eventually(read, timeout=30), "no ALL read succeeded"
        return values[-1]

    def _everywhere(self, counter: str) -> set[int]:
        return {self.clients[n].dataset(self.dataset).counter(self.pkey, counter,
                                                              consistency=ONE)
                for n in (1, 2, 3)}


def test_counters_lose_no_acknowledged_add_and_count_none_twice(cluster: LocalCluster) -> None:
    """``cluster``: tests/conftest.py's; each example's teardown heals what it faulted."""
    token, dataset = new_dataset(cluster, kind="counter")
    CounterMachine.cluster, CounterMachine.token, CounterMachine.dataset = (
        cluster, token, dataset)
    run_state_machine_as_test(CounterMachine, settings=settings(
        max_examples=3, stateful_step_count=14, deadline=None, database=None,
        suppress_health_check=list(HealthCheck),
    ))
