"""A linearizable register, checked by hypothesis: several SDK clients (each through a
different coordinator, one routed by the SDK) do SERIAL put(if_version) / put(if_absent)
/ get on one key of a real 3-node cluster while a rule pauses (SIGSTOP) or kills and
restarts a node. Operations run one at a time, so every answer must fit the model's set
of possible states: a write with an unknown outcome adds its value as possible, and an
answer that shows which one holds settles it (a sealed read settles it for good)."""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine, initialize, invariant, precondition, rule,
    run_state_machine_as_test,
)

from manhattan.client import (
    Client, ConditionFailed, Consistency, RetryPolicy, RoundRobinPolicy, Timeout, Unavailable,
)
from manhattan.client.conditional import serial_get
from manhattan.node.local_cluster import LocalCluster
from tests.clusters import eventually, new_dataset, start_cluster, wait_until_up

TIMEOUT = 2.0
CLIENTS = st.integers(min_value=0, max_value=3)  # 0-2: one node each; 3: SDK routing
NODES = st.sampled_from([1, 2, 3])

# One possible state of the register: (value or None for absent, version or None when
# the write's version is not known yet).
State = tuple[bytes | None, tuple[int, int] | None]
STATS: Counter[str] = Counter()


@pytest.fixture(scope="module")
def register_cluster(tmp_path_factory) -> Iterator[tuple[LocalCluster, str, str]]:
    local = start_cluster(tmp_path_factory.mktemp("serial-register"),
                          cluster={"ping_interval_s": 0.1})
    try:
        token, name = new_dataset(local)
        yield local, token, name
    finally:
        local.stop()


class RegisterMachine(RuleBasedStateMachine):
    """SERIAL operations and faults against a set of possible register states."""

    cluster: LocalCluster
    clients: list[Client]
    dataset: str

    def __init__(self) -> None:
        super().__init__()
        self.key = os.urandom(6).hex()  # examples share the cluster, not the key
        self.possible: list[State] = [(None, None)]
        self.written = 0
        self.paused: int | None = None
        self.killed: int | None = None

    def _ds(self, index: int):
        return self.clients[index].dataset(self.dataset)

    def _settle(self, value: bytes | None, version: tuple[int, int] | None, *,
                for_good: bool) -> None:
        """An answer showed the register holds ``value``: it must be a possible state."""
        match = [s for s in self.possible if s[0] == value]
        assert match, f"{value!r} is not a possible state of {self.possible}"
        state = match[0]
        if state[1] is not None and version is not None:
            assert state[1] == version, f"{value!r} has version {version}, not {state[1]}"
        known = (value, version or state[1])
        if for_good or state[1] is None:  # an unknown write seen: it was chosen
            self.possible = [known]
        else:
            self.possible = [known if s == state else s for s in self.possible]

    # -- faults ------------------------------------------------------------------

    @precondition(lambda self: self.paused is None and self.killed is None)
    @rule(node=NODES)
    def pause(self, node: int) -> None:
        os.kill(self.cluster.node(node).pid, signal.SIGSTOP)
        self.paused = node
        STATS["pause"] += 1

    @precondition(lambda self: self.paused is not None)
    @rule()
    def resume(self) -> None:
        os.kill(self.cluster.node(self.paused).pid, signal.SIGCONT)
        self.paused = None

    @precondition(lambda self: self.paused is None and self.killed is None)
    @rule(node=NODES)
    def kill(self, node: int) -> None:
        self.cluster.node(node).kill()
        self.killed = node
        STATS["kill"] += 1

    @precondition(lambda self: self.killed is not None)
    @rule()
    def restart(self) -> None:
        self.cluster.node(self.killed).start()
        wait_until_up(self.cluster, self.killed)
        self.killed = None

    # -- operations --------------------------------------------------------------

    @precondition(lambda self: any(v is None or ver is not None for v, ver in self.possible))
    @rule(client=CLIENTS, pick=st.integers(min_value=0, max_value=7))
    def compare_and_set(self, client: int, pick: int) -> None:
        usable = [s for s in self.possible if s[0] is None or s[1] is not None]
        expected = usable[pick % len(usable)]
        self.written += 1
        value = f"w{self.written}".encode()
        condition = ({"if_absent": True} if expected[0] is None
                     else {"if_version": expected[1]})
        try:
            version = self._ds(client).put(self.key, "r", value, timeout=TIMEOUT, **condition)
        except ConditionFailed as failed:
            STATS["condition-failed"] += 1
            current = failed.current
            assert current is None or current.version[:2] != expected[1]
            if current is None:
                assert expected[0] is not None
                self._settle(None, None, for_good=False)
            else:
                self._settle(current.value, current.version[:2], for_good=False)
            return
        except Timeout:
            self.possible.append((value, None))  # it may have been chosen
            STATS["unknown"] += 1
            return
        except Unavailable:
            STATS["unavailable"] += 1
            return  # nothing was done
        assert expected in self.possible
        self.possible = [(value, version[:2])]
        STATS["applied"] += 1

    @rule(client=CLIENTS, seal=st.booleans())
    def read(self, client: int, seal: bool) -> None:
        try:
            if seal:
                record = self.clients[client].execute(
                    serial_get(self.dataset, self.key, "r", seal=True), TIMEOUT)
            else:
                record = self._ds(client).get(self.key, "r", consistency=Consistency.SERIAL,
                                              timeout=TIMEOUT)
        except (Timeout, Unavailable):
            STATS["read-failed"] += 1
            return
        STATS["read"] += 1
        if record is None:
            self._settle(None, None, for_good=seal)
        else:
            self._settle(record.value, record.version[:2], for_good=seal)

    @initialize(client=CLIENTS)
    def first_write(self, client: int) -> None:
        """Every example starts with a compare-and-set, before any fault: hypothesis may
        leave a rule out of a whole example (swarm testing), and a run whose examples
        all left compare_and_set out checked nothing about writes."""
        self.compare_and_set(client, 0)

    @invariant()
    def never_empty(self) -> None:
        assert self.possible

    def teardown(self) -> None:
        if self.paused is not None:
            self.resume()
        if self.killed is not None:
            self.restart()
        record = None

        def sealed() -> bool:
            nonlocal record
            try:
                record = self.clients[3].execute(
                    serial_get(self.dataset, self.key, "r", seal=True), 10)
            except (Timeout, Unavailable):
                return False
            return True

        assert eventually(sealed, timeout=30)
        self._settle(record.value if record else None,
                     record.version[:2] if record else None, for_good=True)


def test_serial_register_is_linearizable_under_pauses_and_kills(register_cluster) -> None:
    local, token, name = register_cluster
    retry = RetryPolicy(max_attempts=3, max_backoff=0.2)
    clients = [Client([n.address], token=token, routing=RoundRobinPolicy([n.address]),
                      retry=retry, timeout=TIMEOUT) for n in local.nodes]
    clients.append(Client(local.endpoints, token=token, retry=retry, timeout=TIMEOUT))
    RegisterMachine.cluster = local
    RegisterMachine.clients = clients
    RegisterMachine.dataset = name
    try:
        run_state_machine_as_test(RegisterMachine, settings=settings(
            max_examples=6, stateful_step_count=10, deadline=None,
            suppress_health_check=list(HealthCheck)))
    finally:
        for client in clients:
            client.close()
    print(dict(STATS))
    assert STATS["applied"] > 0  # the writes were not all refused
