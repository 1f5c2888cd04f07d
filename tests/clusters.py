"""The cluster fixture family: real clusters of node processes (``LocalCluster``) for
tests, started converged (``LocalCluster.wait_converged``), and the helpers that
watch them. The module-scoped ``cluster`` fixture lives in tests/conftest.py."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from manhattan.client import (
    Client, Consistency, RetryPolicy, RoundRobinPolicy, Timeout, Unavailable,
)
from manhattan.node.local_cluster import LocalCluster
from manhattan.node.process import NodeProcess

_names = itertools.count(1)


# A call's deadline for the tests' clients unless the test names one: a test about
# something else must not fail because a shared 2-core box stalled a replica for the
# SDK's default 5 s (tests of deadlines pass their own).
TEST_DEADLINE_S = 30.0


def only(endpoint: str, token: str, attempts: int = 12) -> Client:
    """A client that talks to exactly one node (no routing elsewhere); it retries
    Unavailable for longer than the default, to ride out a failure detector's flap
    while a restarted node warms up on a loaded machine (``attempts=1``: a test that
    must see the first answer, which a retry would hide)."""
    return Client([endpoint], token=token, routing=RoundRobinPolicy([endpoint]),
                  retry=RetryPolicy(max_attempts=attempts, max_backoff=0.5),
                  timeout=TEST_DEADLINE_S)


def eventually(check: Callable[[], bool], timeout: float = 15.0, interval: float = 0.1) -> bool:
    """Poll ``check`` until it holds or ``timeout`` passes (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def start_cluster(root, nodes: int = 3, **extra_config) -> LocalCluster:
    """``nodes`` nodes (three by default), fast failure detection, converged."""
    config = {**extra_config,
              "cluster": {"ping_interval_s": 0.2, "hint_replay_interval_s": 0.3,
                          **extra_config.get("cluster", {})},
              # Background anti-entropy off unless asked for: most tests watch hints and
              # read repair alone (tests/replication/antientropy covers anti-entropy).
              "repair": {"enabled": False, **extra_config.get("repair", {})}}
    local = LocalCluster(root, nodes=nodes, base_port=None, extra_config=config).start()
    try:
        return local.wait_converged()  # every failure detector has heard from every peer
    except TimeoutError:
        local.stop()
        raise


def new_dataset(local: LocalCluster, **options) -> tuple[str, str]:
    """(token, dataset) of a fresh tenant with one RF=3 dataset that every replica has
    already acknowledged a write to (a first ALL write on a loaded CI box could miss
    its deadline while links and column families warm up, failing tests about
    something else)."""
    n = next(_names)
    with Client(local.endpoints, token=local.admin_token) as admin:
        # A node killed by the test before may have taken the metadata leader with it:
        # create once the log answers an admin read again (nothing is sent before).
        assert eventually(lambda: metadata_answers(admin), timeout=60), "no metadata leader"
        token = admin.admin.create_tenant(f"ct-{n}", timeout=30)
        admin.admin.create_dataset(f"cds-{n}", tenant=f"ct-{n}", replication_factor=3,
                                   timeout=30, **options)
        warm = admin.dataset(f"cds-{n}")
        acked = counted_by_all if options.get("kind") == "counter" else acked_by_all
        assert eventually(lambda: acked(warm), timeout=60), "no replica set warmed up"
    return token, f"cds-{n}"


def metadata_answers(admin: Client) -> bool:
    """Whether an admin read (a barrier through the metadata log) succeeds now."""
    try:
        admin.admin.list_datasets()
    except (Timeout, Unavailable):
        return False
    return True


def acked_by_all(dataset, pkey: str = "warm-up", lkey: str = "", value: str = "") -> bool:
    """Whether every replica acknowledged one write at ALL (False: ask again; writing
    the same value twice is harmless)."""
    try:
        dataset.put(pkey, lkey, value, consistency=Consistency.ALL)
    except (Timeout, Unavailable):
        return False
    return True


def counted_by_all(dataset, pkey: str = "warm-up", lkey: str = "") -> bool:
    """``acked_by_all`` for a counter dataset: one add of 0 acknowledged at ALL."""
    try:
        dataset.add(pkey, lkey, 0, consistency=Consistency.ALL)
    except (Timeout, Unavailable):
        return False
    return True


def wait_until_down(local: LocalCluster, node_id: int, observer: int) -> None:
    """Until ``observer``'s failure detector reports ``node_id`` down."""
    with only(local.node(observer).address, local.admin_token) as client:
        assert eventually(lambda: not next(m.alive for m in client.admin.topology().members
                                           if m.id == node_id))


def wait_until_up(local: LocalCluster, node_id: int, observer: int | None = None) -> None:
    """Until the failure detectors of ``observer`` (default: every other node) report
    ``node_id`` alive."""
    observers = [observer] if observer else [n.node_id for n in local.nodes if n.node_id != node_id]
    for watcher in observers:
        with only(local.node(watcher).address, local.admin_token) as client:
            assert eventually(lambda: next(m.alive for m in client.admin.topology().members
                                           if m.id == node_id))


@contextmanager
def paused(*nodes: NodeProcess) -> Iterator[None]:
    """SIGSTOP node processes (by PID) for the block, SIGCONT after it whatever happens:
    a node that is alive but answers nothing, as a stalled host looks to its peers."""
    pids = [node.pid for node in nodes]
    assert all(pids), "paused() needs running nodes"
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
