"""Membership changes on real clusters under a QUORUM writer: add a 4th node to a 3-node
RF=3 cluster, decommission a node, and a join that survives the joining node's SIGKILL."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import grpc
import pytest
import tomli_w

from manhattan.client import Client, Consistency, InvalidRequest, ManhattanError, Put
from manhattan.client.ops import ClusterOps
from manhattan.cluster.ring import Ring
from manhattan.cluster.topology import Member, Topology
from manhattan.node.local_cluster import LocalCluster
from manhattan.node.process import NodeProcess
from manhattan.proto.v1 import ops_pb2, ops_pb2_grpc

from tests.clusters import (
    eventually, metadata_answers, new_dataset, only, start_cluster, wait_until_down,
)

Q, ONE = Consistency.QUORUM, Consistency.ONE
FAST = {"cluster": {"ping_interval_s": 0.2, "hint_replay_interval_s": 0.3},
        "repair": {"enabled": False}}  # convergence must come from streaming alone


def new_node(local: LocalCluster, node_id: int, **streaming) -> NodeProcess:
    """A node of its own (no members), with the cluster's admin token, ready to be added."""
    root = local.data_dir
    config = {section: dict(values) for section, values in FAST.items()}
    config["node"] = {"admin_token": local.admin_token}
    config["streaming"] = streaming
    path = root / f"node{node_id}.toml"
    with open(path, "wb") as fh:
        tomli_w.dump(config, fh)
    return NodeProcess(root / f"node{node_id}", node_id=node_id, config_path=path,
                       log_path=root / f"node{node_id}.log").start()


def cli(local: LocalCluster, *args: str, **kwargs):
    """The CLI, run again (bounded) as an operator would when its change met a metadata
    leader election (the node just killed may have led): rerunning a change resumes it."""
    command = [sys.executable, "-m", "manhattan.cli", "--endpoints", ",".join(local.endpoints),
               "--token", local.admin_token, *args]
    for _ in range(3):
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
        if "the leader changed" not in result.stderr:
            break
        time.sleep(1)
    return result


class Writer(threading.Thread):
    """Writes unique keys at QUORUM until stopped; remembers the acknowledged ones."""

    def __init__(self, endpoints: list[str], token: str, dataset: str) -> None:
        super().__init__(daemon=True)
        self.client = Client(endpoints, token=token)
        self.dataset = dataset
        self.acked: list[str] = []
        self.failed = 0
        self.halt = threading.Event()

    def run(self) -> None:
        data = self.client.dataset(self.dataset)
        i = 0
        while not self.halt.is_set():
            key = f"w{i}"
            i += 1
            try:
                data.put(key, "l", key, consistency=Q, timeout=5)
                self.acked.append(key)
            except ManhattanError:
                self.failed += 1
            time.sleep(0.003)

    def stop(self) -> None:
        self.halt.set()
        self.join(30)
        self.client.close()


def preload(endpoints, token: str, ds: str, count: int) -> list[str]:
    keys = [f"p{i}" for i in range(count)]
    with Client(endpoints, token=token) as client:
        data = client.dataset(ds)
        for i in range(0, count, 500):
            data.put_many([Put(k, "l", k) for k in keys[i:i + 500]], consistency=Q)
    return keys


def final_ring(local_endpoints: list[str], token: str) -> Ring:
    with Client(local_endpoints, token=token) as client:
        topology = client.admin.topology()
    assert all(m.state == "normal" for m in topology.members)
    return Ring(Topology(topology.epoch, tuple(Member(m.id, m.address, m.zone, m.weight)
                                               for m in topology.members)),
                vnodes=topology.vnodes)


def check_every_key(endpoints, token: str, ds: str, keys: list[str], ring: Ring,
                    addresses: dict[int, str]) -> None:
    """Every key readable at QUORUM, and at ONE from each of its replicas alone (a node
    coordinating a read at ONE of a key it replicates reads only its own storage)."""
    with Client(endpoints, token=token) as client:
        data = client.dataset(ds)
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            got = data.get_many([(k, "l") for k in part], consistency=Q)
            lost = [k for k, r in zip(part, got) if r is None or r.value != k.encode()]
            assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {lost[:5]}"
    for node_id, address in addresses.items():
        mine = [k for k in keys if node_id in {m.id for m in ring.preference_list(k.encode(), 3)}]
        assert mine
        with only(address, token) as client:
            data = client.dataset(ds)
            for i in range(0, len(mine), 500):
                part = mine[i:i + 500]
                got = data.get_many([(k, "l") for k in part], consistency=ONE)
                missing = [k for k, r in zip(part, got) if r is None]
                assert not missing, f"node {node_id} lacks {len(missing)} of its keys"


def test_add_a_fourth_node_under_a_quorum_writer(tmp_path):
    local = start_cluster(tmp_path / "c", 3)
    extra: NodeProcess | None = None
    writer: Writer | None = None
    try:
        token, ds = new_dataset(local)
        loaded = preload(local.endpoints, token, ds, 5000)
        extra = new_node(local, 4)
        writer = Writer(local.endpoints, token, ds)
        writer.start()
        assert eventually(lambda: len(writer.acked) > 50)
        result = cli(local, "node", "add", extra.address, "-o", "json")
        assert result.returncode == 0, result.stderr + result.stdout
        summary = json.loads(result.stdout)
        assert summary["phase"] == "done" and summary["records"] >= 1000
        acked_during = len(writer.acked)
        assert eventually(lambda: len(writer.acked) > acked_during + 50)  # still writing
        writer.stop()
        ring = final_ring(local.endpoints, local.admin_token)
        assert set(ring.members) == {"node-1", "node-2", "node-3", "node-4"}
        check_every_key([*local.endpoints, extra.address], token, ds,
                        loaded + writer.acked, ring, {4: extra.address})
        # The same add again (an operator unsure it finished): done, nothing changes.
        again = cli(local, "node", "add", extra.address, "-o", "json")
        assert again.returncode == 0, again.stderr + again.stdout
        assert json.loads(again.stdout)["phase"] == "done" and "already done" in again.stdout
        assert final_ring(local.endpoints, local.admin_token).members == ring.members
        # Bad input: an unknown node id.
        unknown = cli(local, "node", "decommission", "99")
        assert unknown.returncode != 0 and "unknown node id 99" in unknown.stderr
    finally:
        if writer is not None and writer.is_alive():
            writer.stop()
        if extra is not None:
            extra.stop()
        local.stop()


def test_decommission_under_a_quorum_writer(tmp_path):
    local = start_cluster(tmp_path / "c", 4)
    writer: Writer | None = None
    try:
        token, ds = new_dataset(local)
        loaded = preload(local.endpoints, token, ds, 5000)
        writer = Writer(local.endpoints[:3], token, ds)
        writer.start()
        assert eventually(lambda: len(writer.acked) > 50)
        with Client(local.endpoints, token=local.admin_token) as admin:
            with pytest.raises(InvalidRequest, match="unknown node id 9"):
                list(ClusterOps(admin).decommission(9))
        result = cli(local, "node", "decommission", "4", "-o", "json")
        assert result.returncode == 0, result.stderr + result.stdout
        assert json.loads(result.stdout)["phase"] == "done"
        acked_during = len(writer.acked)
        assert eventually(lambda: len(writer.acked) > acked_during + 50)
        writer.stop()
        ring = final_ring(local.endpoints[:3], local.admin_token)
        assert set(ring.members) == {"node-1", "node-2", "node-3"}
        check_every_key(local.endpoints[:3], token, ds, loaded + writer.acked, ring,
                        {i: local.node(i).address for i in (1, 2, 3)})
        # Three nodes left and RF=3: one more decommission would leave too few.
        refused = cli(local, "node", "decommission", "3")
        assert refused.returncode != 0
        assert "would leave 2 nodes, fewer than the replication factor 3" in refused.stderr
    finally:
        if writer is not None and writer.is_alive():
            writer.stop()
        local.stop()


def transfer_status(address: str, token: str) -> ops_pb2.TransferStatusReply:
    with grpc.insecure_channel(address) as channel:
        return ops_pb2_grpc.PeerRangesStub(channel).TransferStatus(
            ops_pb2.TransferStatusRequest(), timeout=3,
            metadata=(("authorization", f"Bearer {token}"),))


def test_a_join_resumes_after_the_joining_node_is_killed_mid_stream(tmp_path):
    local = start_cluster(tmp_path / "c", 3)
    extra: NodeProcess | None = None
    adding: subprocess.Popen[str] | None = None
    try:
        token, ds = new_dataset(local)
        loaded = preload(local.endpoints, token, ds, 12000)
        extra = new_node(local, 4, max_records_per_s=2500, chunk_records=250)
        adding = subprocess.Popen(
            [sys.executable, "-m", "manhattan.cli", "--endpoints", ",".join(local.endpoints),
             "--token", local.admin_token, "node", "add", extra.address, "-o", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert eventually(lambda: transfer_status(extra.address, local.admin_token).records
                          >= 2000, timeout=60), "the stream did not start"
        before = transfer_status(extra.address, local.admin_token)
        assert before.ranges_done < before.ranges_total  # really mid-stream
        extra.kill()
        extra.start()
        stdout, stderr = adding.communicate(timeout=300)
        assert adding.returncode == 0, stderr + stdout
        after = transfer_status(extra.address, local.admin_token)
        ring = final_ring(local.endpoints, local.admin_token)
        needed = sum(1 for k in loaded if 4 in {m.id for m in ring.preference_list(k.encode(), 3)})
        # Resumed, not restarted: after the restart it streamed only what was left.
        assert 0 < after.records < needed
        assert after.records + before.records >= needed
        check_every_key([*local.endpoints, extra.address], token, ds, loaded, ring,
                        {4: extra.address})
    finally:
        if adding is not None and adding.poll() is None:
            adding.kill()
            adding.wait()
        if extra is not None:
            extra.stop()
        local.stop()


def test_a_change_goes_to_the_next_member_when_the_first_reported_alive_is_dead(tmp_path):
    # Slow failure detection: node 1, just killed, is still reported alive for seconds.
    local = start_cluster(tmp_path / "c", 3, cluster={"ping_interval_s": 5.0})
    try:
        local.node(1).kill()
        with only(local.node(2).address, local.admin_token) as admin:
            assert next(m.alive for m in admin.admin.topology().members if m.id == 1)
            # Node 1 refuses the connection (nothing started): node 2 runs the request,
            # and answers it (there is nothing to abort), where the operator once got
            # "cannot connect to node 1".
            with pytest.raises(ManhattanError, match="no membership change is under way"):
                list(ClusterOps(admin).abort())
    finally:
        local.stop()


def test_replace_and_remove_dead_nodes(tmp_path):
    local = start_cluster(tmp_path / "c", 4)
    extra: NodeProcess | None = None
    try:
        token, ds = new_dataset(local)
        loaded = preload(local.endpoints, token, ds, 3000)
        refused = cli(local, "node", "remove", "4")
        assert refused.returncode != 0 and "node 4 is alive" in refused.stderr
        local.node(4).kill()
        wait_until_down(local, 4, observer=1)
        with only(local.node(1).address, token) as client:  # writes node 4 misses: hinted
            for i in range(40):
                client.dataset(ds).put(f"late{i}", "l", f"late{i}", consistency=Q)
        loaded += [f"late{i}" for i in range(40)]
        with only(local.node(1).address, local.admin_token) as admin:
            assert admin.admin.node_info().hints_pending.get(4, 0) > 0
        result = cli(local, "node", "remove", "4", "-o", "json")
        assert result.returncode == 0, result.stderr + result.stdout
        with only(local.node(1).address, local.admin_token) as admin:  # undeliverable now
            assert admin.admin.node_info().hints_pending.get(4, 0) == 0
        ring = final_ring(local.endpoints[:3], local.admin_token)
        assert set(ring.members) == {"node-1", "node-2", "node-3"}
        check_every_key(local.endpoints[:3], token, ds, loaded, ring,
                        {i: local.node(i).address for i in (1, 2, 3)})
        # Now node 3 dies and node 5 takes its place.
        local.node(3).kill()
        wait_until_down(local, 3, observer=1)
        extra = new_node(local, 5)
        result = cli(local, "node", "replace", "3", extra.address, "-o", "json")
        assert result.returncode == 0, result.stderr + result.stdout
        ring = final_ring(local.endpoints[:2], local.admin_token)
        assert set(ring.members) == {"node-1", "node-2", "node-5"}
        check_every_key([*local.endpoints[:2], extra.address], token, ds, loaded, ring,
                        {1: local.node(1).address, 2: local.node(2).address,
                         5: extra.address})
    finally:
        if extra is not None:
            extra.stop()
        local.stop()


def adding(local: LocalCluster, address: str, outcome: dict[str, object],
           via: str | None = None) -> threading.Thread:
    """``ClusterOps.add_node`` running in a thread (driven by ``via`` when given): its last
    event lands in ``outcome["last"]``, or its error in ``outcome["error"]``."""
    def add() -> None:
        try:
            with Client([via] if via else local.endpoints, token=local.admin_token) as admin:
                outcome["last"] = list(ClusterOps(admin).add_node(address, via=via))[-1]
        except Exception as exc:  # reported by the caller's assertions
            outcome["error"] = exc

    adder = threading.Thread(target=add, daemon=True)
    adder.start()
    return adder


def test_a_join_resumes_after_the_streaming_source_is_killed(tmp_path):
    local = start_cluster(tmp_path / "c", 3)
    extra: NodeProcess | None = None
    outcome: dict[str, object] = {}
    try:
        token, ds = new_dataset(local)
        loaded = preload(local.endpoints, token, ds, 12000)
        extra = new_node(local, 4, max_records_per_s=2500, chunk_records=250)
        # run by node 3, so the source can die without the orchestrator
        adder = adding(local, extra.address, outcome, via=local.node(3).address)
        assert eventually(lambda: transfer_status(extra.address, local.admin_token).records
                          >= 2000, timeout=60), "the stream did not start"

        def served(node_id: int) -> int:
            with only(local.node(node_id).address, local.admin_token) as client:
                return client.admin.node_info().streaming_records

        sources = [i for i in (1, 2, 3) if served(i) > 0]
        assert len(sources) == 1, sources
        source = sources[0]
        before = transfer_status(extra.address, local.admin_token)
        assert before.ranges_done < before.ranges_total
        local.node(source).kill()
        assert eventually(lambda: transfer_status(extra.address, local.admin_token).records
                          > before.records + 2000, timeout=60), "the stream did not go on"
        local.node(source).start()
        adder.join(300)
        assert not adder.is_alive() and "error" not in outcome, outcome
        assert outcome["last"].done
        after = transfer_status(extra.address, local.admin_token)
        ring = final_ring(local.endpoints, local.admin_token)
        needed = sum(1 for k in loaded if 4 in {m.id for m in ring.preference_list(k.encode(), 3)})
        # Resumed from where the dead source stopped, not from scratch (a chunk or two
        # may arrive twice).
        assert needed <= after.records <= needed + 2 * 250
        check_every_key([*local.endpoints, extra.address], token, ds, loaded, ring,
                        {4: extra.address})
    finally:
        if extra is not None:
            extra.stop()
        local.stop()


def test_a_join_whose_driver_is_killed_is_resumed_through_another_node_while_it_is_down(
        tmp_path):
    """The driver only orchestrates: once it is killed, the same add through another node
    finishes the change with the driver still down (it gains no range, so nobody waits for
    its transfer status; jepsen's member-driver-kill found the resume hanging on it)."""
    local = start_cluster(tmp_path / "c", 3)
    extra: NodeProcess | None = None
    first: dict[str, object] = {}
    resumed: dict[str, object] = {}
    try:
        token, ds = new_dataset(local)
        loaded = preload(local.endpoints, token, ds, 8000)
        extra = new_node(local, 4, max_records_per_s=2500, chunk_records=250)
        adding(local, extra.address, first, via=local.node(1).address)
        assert eventually(lambda: transfer_status(extra.address, local.admin_token).records
                          >= 1000, timeout=60), "the stream did not start"
        local.node(1).kill()
        survivors = [local.node(2).address, local.node(3).address]
        for _ in range(5):  # as an operator would while the log elects a new leader
            with Client(survivors, token=local.admin_token) as admin:
                assert eventually(lambda: metadata_answers(admin), timeout=60), "no leader"
            resumed.clear()
            adder = adding(local, extra.address, resumed, via=survivors[0])
            adder.join(180)
            assert not adder.is_alive()
            if "leader changed" not in str(resumed.get("error", "")):
                break
        assert "error" not in resumed, resumed
        assert resumed["last"].done
        assert local.node(1).pid is None  # still down
        ring = final_ring(survivors, local.admin_token)
        assert "node-4" in ring.members
        check_every_key([*survivors, extra.address], token, ds, loaded, ring,
                        {4: extra.address})
    finally:
        if extra is not None:
            extra.stop()
        local.stop()


def test_a_join_finishes_when_a_dataset_is_dropped_mid_stream(tmp_path):
    """The joining node plans its pulls once; a dataset dropped after the plan is answered
    NOT_FOUND by every source (a dead incarnation), and the join must not retry it forever
    (jepsen: a name of the admin workload's pool dropped while a spare joined)."""
    local = start_cluster(tmp_path / "c", 3)
    extra: NodeProcess | None = None
    outcome: dict[str, object] = {}
    try:
        # pulls go in name order: the dropped one is the second, streamed after ``kept``
        (token, kept), (dropped_token, dropped) = sorted(
            [new_dataset(local), new_dataset(local)], key=lambda made: made[1])
        loaded = preload(local.endpoints, token, kept, 8000)
        preload(local.endpoints, dropped_token, dropped, 300)
        extra = new_node(local, 4, max_records_per_s=2500, chunk_records=250)
        adder = adding(local, extra.address, outcome)
        assert eventually(lambda: transfer_status(extra.address, local.admin_token).records
                          >= 1000, timeout=60), "the stream did not start"
        status = transfer_status(extra.address, local.admin_token)
        assert status.ranges_done < status.ranges_total  # the dropped one is still to come
        with Client(local.endpoints, token=local.admin_token) as admin:
            admin.admin.drop_dataset(dropped, timeout=30)
        adder.join(120)
        assert not adder.is_alive(), "the join never finished"
        assert "error" not in outcome and outcome["last"].done, outcome
        # every acknowledged record of the dataset that stayed reached the new node
        check_every_key([*local.endpoints, extra.address], token, kept, loaded,
                        final_ring(local.endpoints, local.admin_token), {4: extra.address})
    finally:
        if extra is not None:
            extra.stop()
        local.stop()
