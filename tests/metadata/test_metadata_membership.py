"""Membership changes through the metadata log, on real clusters: one change at a time,
abort of a change whose joining node died, and no topology but the log's."""

from __future__ import annotations

import threading

import grpc
import pytest

from manhattan.client import Client, Consistency, ManhattanError
from manhattan.client.ops import ClusterOps
from manhattan.cluster.membership import topology_to_proto
from manhattan.cluster.topology import Member, Topology
from manhattan.proto.v1 import peer_pb2_grpc

from tests.cluster.conftest import eventually, new_dataset, only
from tests.membership.test_membership import new_node, preload, start


def _add(local, address: str, via: str, outcome: dict) -> None:
    try:
        with Client([via], token=local.admin_token) as admin:
            outcome["last"] = list(ClusterOps(admin).add_node(address, via=via))[-1]
    except ManhattanError as exc:
        outcome["error"] = exc


def test_two_changes_started_at_once_on_two_nodes_one_runs_the_other_is_refused(tmp_path):
    local = start(tmp_path / "c", 3)
    spares = []
    try:
        spares = [new_node(local, 4), new_node(local, 5)]
        outcomes: list[dict] = [{}, {}]
        threads = [threading.Thread(target=_add, args=(local, spare.address,
                                                        local.node(i + 1).address, outcome))
                   for i, (spare, outcome) in enumerate(zip(spares, outcomes))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)
        done = [o for o in outcomes if "last" in o and o["last"].done]
        refused = [o for o in outcomes if "error" in o]
        assert len(done) == 1 and len(refused) == 1, outcomes
        assert "membership change" in str(refused[0]["error"])
        epochs = set()
        for node in local.nodes:  # one history: every member holds the same topology
            with only(node.address, local.admin_token) as client:
                topology = client.admin.topology()
                epochs.add((topology.epoch, tuple(sorted(m.id for m in topology.members))))
        assert len(epochs) == 1 and len(next(iter(epochs))[1]) == 4
    finally:
        for spare in spares:
            spare.stop()
        local.stop()


def test_a_change_whose_joining_node_died_is_aborted_and_every_write_is_served(tmp_path):
    local = start(tmp_path / "c", 3)
    extra = None
    try:
        token, ds = new_dataset(local)
        loaded = preload(local.endpoints, token, ds, 3000)
        extra = new_node(local, 4, max_records_per_s=300, chunk_records=100)
        outcome: dict = {}
        adder = threading.Thread(target=_add, args=(local, extra.address,
                                                    local.node(1).address, outcome))
        adder.start()
        with only(local.node(2).address, local.admin_token) as admin:
            assert eventually(lambda: any(m.state == "joining"
                                          for m in admin.admin.topology().members), 60)
            before = admin.admin.topology().epoch
        extra.kill()
        with only(local.node(2).address, local.admin_token) as admin:
            last = list(ClusterOps(admin).abort(via=local.node(2).address))[-1]
            assert last.done and "aborted" in last.message
            topology = admin.admin.topology()
        assert topology.epoch == before + 1
        assert sorted((m.id, m.state) for m in topology.members) == [
            (1, "normal"), (2, "normal"), (3, "normal")]
        adder.join(120)
        assert not adder.is_alive() and "error" in outcome  # its driver saw the abort
        with Client(local.endpoints, token=token) as client:
            data = client.dataset(ds)
            missing = [k for k in loaded
                       if data.get(k, "l", consistency=Consistency.QUORUM) is None]
        assert missing == []
        with only(local.node(3).address, local.admin_token) as admin:  # nothing left to abort
            with pytest.raises(ManhattanError, match="no membership change"):
                list(ClusterOps(admin).abort(via=local.node(3).address))
    finally:
        if extra is not None:
            extra.stop()
        local.stop()


def test_a_pushed_topology_is_ignored_under_the_metadata_log(tmp_path):
    local = start(tmp_path / "c", 3)
    try:
        node = local.node(1)
        with only(node.address, local.admin_token) as admin:
            before = admin.admin.topology()
        bogus = Topology(2**62, (Member(99, "127.0.0.1:1"),))
        with grpc.insecure_channel(node.address) as channel:
            peer_pb2_grpc.PeerStub(channel).PushTopology(
                topology_to_proto(bogus, vnodes=256),
                metadata=(("authorization", f"Bearer {local.admin_token}"),), timeout=5)
        with only(node.address, local.admin_token) as admin:
            after = admin.admin.topology()
        assert (after.epoch, [m.id for m in after.members]) == \
            (before.epoch, [m.id for m in before.members])
    finally:
        local.stop()
