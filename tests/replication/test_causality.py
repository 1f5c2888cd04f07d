"""Causality over clocks, on a real 3-node cluster whose nodes have skewed clocks.

Node 1 runs 2 s ahead, node 2 100 ms behind, node 3 100 ms ahead (``clock.offset_file``).
Without the session clock a write through node 2 acknowledged *after* one through node 1
would lose last-writer-wins to it; with it, the later acknowledged write wins every time.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import grpc
from rocksdict import Rdict
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manhattan.hlc import pack, physical_ms, wall_clock_ms
from manhattan.proto.v1 import data_pb2, data_pb2_grpc, peer_pb2, peer_pb2_grpc, types_pb2
from manhattan.client import (
    Client, Consistency, Put, RetryPolicy, RoundRobinPolicy, Unavailable,
)
from manhattan.node.local_cluster import LocalCluster
from tests.clusters import eventually, new_dataset, wait_until_down, wait_until_up
from tests.replication.antientropy.test_repair import run_cli

LEVELS = [Consistency.ONE, Consistency.QUORUM, Consistency.ALL]
OFFSETS = {1: 2_000, 2: -100, 3: 100}
_examples = itertools.count()  # a fresh lkey per hypothesis example


def set_offset(local: LocalCluster, node_id: int, offset_ms: int) -> None:
    """Move one node's wall clock (re-read by the node within 50 ms). Written aside and
    renamed: a node reading a half-written (empty) file would see offset 0 meanwhile."""
    path = local.data_dir / f"clock{node_id}"
    path.with_suffix(".tmp").write_text(str(offset_ms))
    path.with_suffix(".tmp").replace(path)


def pinned(local: LocalCluster, node_id: int, token: str, attempts: int = 6) -> Client:
    """A client that only ever talks to node ``node_id``: it coordinates every request."""
    endpoint = local.node(node_id).address
    return Client([endpoint], token=token, routing=RoundRobinPolicy([endpoint]),
                  retry=RetryPolicy(max_attempts=attempts, max_backoff=0.3))


@pytest.fixture(scope="module")
def skewed(tmp_path_factory) -> Iterator[LocalCluster]:
    root: Path = tmp_path_factory.mktemp("causality")
    local = LocalCluster(
        root, nodes=3, base_port=None,
        extra_config={"cluster": {"ping_interval_s": 0.2, "hint_replay_interval_s": 0.3},
                      "repair": {"enabled": False},
                      "clock": {"max_skew_ms": 10_000, "max_drift_ms": 5_000}},
        node_config={i: {"clock": {"offset_file": str(root / f"clock{i}"),
                                   # Node 3 never refuses to coordinate (it plays the node
                                   # whose far-future stamps others must keep out).
                                   **({"max_skew_ms": 300_000, "max_drift_ms": 300_000}
                                      if i == 3 else {})}}
                     for i in OFFSETS})
    for node_id, offset in OFFSETS.items():
        set_offset(local, node_id, offset)
    local.start()
    try:
        for node in local.nodes:
            wait_until_up(local, node.node_id)
        local.wait_converged()  # and the metadata log has a leader
        yield local
    finally:
        local.stop()


_split: dict[str, tuple[str, list[str]]] = {}


def split_keys(local: LocalCluster) -> tuple[str, list[str]]:
    """(token, pkeys) of dataset ``split`` (RF 2) whose pkeys live on nodes 1 and 3 only:
    node 2 coordinates their writes without ever storing them, so its clock never absorbs
    node 1's timestamps through a replica write; only the session clock can order them."""
    if "split" not in _split:
        with Client(local.endpoints, token=local.admin_token) as admin:
            token = admin.admin.create_tenant("causal")
            admin.admin.create_dataset("split", tenant="causal", replication_factor=2)
            admin.topology.pin_replication_factor("split", 2)
            assert eventually(lambda: admin.admin.node_info() and admin.topology.ring)
            pkeys = [f"s{i}" for i in range(2000) if {m.id for m in admin.topology.replicas(
                "split", f"s{i}".encode())} == {1, 3}][:40]
        with pinned(local, 1, token) as client:
            assert eventually(lambda: _acked(client, pkeys[0]), timeout=60)
        _split["split"] = (token, pkeys)
    return _split["split"]


def _acked(client: Client, pkey: str) -> bool:
    """Whether both replicas took a warm-up write (the dataset reached them)."""
    try:
        client.dataset("split").put(pkey, "warm", "", consistency=Consistency.ALL)
    except Exception:
        return False
    return True


@pytest.mark.parametrize("level", LEVELS, ids=lambda c: c.name)
def test_the_later_acknowledged_write_wins_across_skewed_coordinators(skewed, level) -> None:
    """Through node 1 (2 s ahead), then node 2 (2.1 s behind it), passing the session
    timestamp on as another process would: the second write wins, every time."""
    token, pkeys = split_keys(skewed)
    with pinned(skewed, 1, token) as ahead, pinned(skewed, 2, token) as behind:
        for i, pkey in enumerate(pkeys[:8]):
            first = ahead.dataset("split").put(pkey, level.name, "first", consistency=level)
            behind.advance_session(ahead.session_timestamp)
            second = behind.dataset("split").put(pkey, level.name, "second", consistency=level)
            ahead.advance_session(behind.session_timestamp)
            assert second.timestamp > first.timestamp
            assert (first.superseded, second.superseded) == (0, 0)
            record = ahead.dataset("split").get(pkey, level.name, consistency=Consistency.ALL)
            assert record is not None and record.value == b"second", (level, i)


def test_one_client_through_two_coordinators_keeps_its_order(skewed) -> None:
    """One client alternating between the 2 s-ahead node and the one behind it: every
    write it makes after an acknowledged one replaces it."""
    token, pkeys = split_keys(skewed)
    endpoints = [skewed.node(1).address, skewed.node(2).address]
    with Client(endpoints, token=token, routing=RoundRobinPolicy(endpoints)) as client:
        data = client.dataset("split")
        for i in range(12):
            version = data.put(pkeys[10], "one", f"v{i}", consistency=Consistency.QUORUM)
            assert version.superseded == 0
            assert client.session_timestamp >= version.timestamp
        assert data.get(pkeys[10], "one", consistency=Consistency.ALL).value == b"v11"


def test_a_write_that_loses_to_an_unseen_newer_version_reports_superseded(skewed) -> None:
    """Node 1 (2 s ahead) writes; a client that saw nothing writes through node 2: both
    replicas decline the older write, and the answer says so (not a silent success)."""
    token, pkeys = split_keys(skewed)
    for i, level in enumerate(LEVELS):
        pkey = pkeys[20 + i]
        with pinned(skewed, 1, token) as ahead, pinned(skewed, 2, token) as stranger:
            first = ahead.dataset("split").put(pkey, "s", "from-ahead",
                                               consistency=Consistency.ALL)
            late = stranger.dataset("split").put(pkey, "s", "from-behind", consistency=level)
            assert late.superseded == first.timestamp > late.timestamp, (level, first, late)
            record = stranger.dataset("split").get(pkey, "s", consistency=Consistency.ALL)
            assert record.value == b"from-ahead"
            # Having read it, the same client's next write is ordered after it.
            again = stranger.dataset("split").put(pkey, "s", "now-newer", consistency=level)
            assert again.superseded == 0 and again.timestamp > first.timestamp


def test_a_batch_answers_one_version_a_count_and_its_superseded_writes(skewed) -> None:
    """A put_many is answered with its first version, a count and the writes that lost
    (not a version per write); the SDK rebuilds every write's version from it, the one
    that lost to node 1's newer version included. A caller that does not ask for the
    compact answer (a client before it) still gets a version per write."""
    token, pkeys = split_keys(skewed)
    beaten, fresh = pkeys[36], pkeys[37]
    with pinned(skewed, 1, token) as ahead, pinned(skewed, 2, token) as stranger:
        first = ahead.dataset("split").put(beaten, "batch", "from-ahead",
                                           consistency=Consistency.ALL)
        versions = stranger.dataset("split").put_many(
            [Put(fresh, "a", "x"), Put(beaten, "batch", "late"), Put(fresh, "b", "y")],
            consistency=Consistency.QUORUM)
    assert [v.superseded for v in versions] == [0, first.timestamp, 0]
    assert [v.timestamp - versions[0].timestamp for v in versions] == [0, 1, 2]
    assert {v.writer for v in versions} == {2}
    request = data_pb2.MultiPutRequest(
        dataset="split", consistency=int(Consistency.QUORUM),
        mutations=[data_pb2.Mutation(pkey=fresh.encode(), lkey=b"c", value=b"z"),
                   data_pb2.Mutation(pkey=fresh.encode(), lkey=b"d", value=b"z")])
    auth = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(skewed.node(2).address) as channel:
        stub = data_pb2_grpc.DataStub(channel)
        full = stub.MultiPut(request, metadata=auth, timeout=10)
        request.compact_reply = True
        compact = stub.MultiPut(request, metadata=auth, timeout=10)
    assert len(full.versions) == 2 and not full.count and not full.HasField("first")
    assert full.versions[1].timestamp == full.versions[0].timestamp + 1
    assert not compact.versions and compact.count == 2 and not compact.superseded
    assert compact.first.writer == 2 and compact.first.timestamp > full.versions[1].timestamp


def test_a_node_restarted_with_its_clock_stepped_back_never_goes_back(skewed) -> None:
    """Node 1 (2 s ahead) writes, restarts with its clock 3 s behind; a fresh client with
    no session writes through it: the persisted HLC ceiling puts that write above."""
    token, ds = new_dataset(skewed)
    with pinned(skewed, 1, token) as client:
        before = client.dataset(ds).put("r", "k", "before", consistency=Consistency.ALL)
    node = skewed.node(1)
    node.stop()
    set_offset(skewed, 1, -3_000)
    try:
        node.start()
        wait_until_up(skewed, 1)
        for level in LEVELS:
            with pinned(skewed, 1, token, attempts=12) as fresh:
                after = fresh.dataset(ds).put("r", "k", f"after-{level.name}",
                                              consistency=level)
                assert after.timestamp > before.timestamp and after.superseded == 0
                before = after
                got = fresh.dataset(ds).get("r", "k", consistency=Consistency.ALL)
                assert got.value == f"after-{level.name}".encode()
    finally:
        set_offset(skewed, 1, OFFSETS[1])


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(offsets=st.lists(st.integers(-2_000, 2_000), min_size=3, max_size=3),
       program=st.lists(st.tuples(st.sampled_from(["put", "delete", "get"]),
                                  st.integers(1, 3), st.integers(0, 2), st.integers(0, 99)),
                        min_size=1, max_size=12))
def test_lww_with_causality_matches_a_model_under_random_clock_offsets(
        skewed, offsets, program) -> None:
    """Operations ordered by the session clock (each starts after the previous one was
    acknowledged, through any node) against a dict: the last write always wins."""
    token, pkeys = split_keys(skewed)  # node 2 coordinates without storing: no shortcut
    for node_id, offset in zip(OFFSETS, offsets):
        set_offset(skewed, node_id, offset)
    clients = {i: pinned(skewed, i, token) for i in OFFSETS}
    model: dict[str, str] = {}
    example = next(_examples)
    try:
        session = 0
        for op, node_id, key_index, value in program:
            client = clients[node_id]
            client.advance_session(session)  # the session passes from client to client
            data, key, lkey = client.dataset("split"), pkeys[30 + key_index], str(example)
            if op == "put":
                result = data.put(key, lkey, str(value), consistency=Consistency.QUORUM)
                assert result.superseded == 0
                model[key] = str(value)
            elif op == "delete":
                data.delete(key, lkey, consistency=Consistency.QUORUM)
                model.pop(key, None)
            else:
                record = data.get(key, lkey, consistency=Consistency.QUORUM)
                assert (record.value.decode() if record else None) == model.get(key)
            session = client.session_timestamp
    finally:
        for client in clients.values():
            client.close()
        for node_id, offset in OFFSETS.items():
            set_offset(skewed, node_id, offset)


def test_a_node_whose_clock_runs_far_ahead_refuses_to_coordinate_writes(skewed) -> None:
    """Node 2 jumps 60 s ahead (beyond clock.max_drift_ms): it refuses writes with
    Unavailable saying why, shows it in NodeInfo, and recovers once its clock is back."""
    token, ds = new_dataset(skewed)
    set_offset(skewed, 2, 60_000)
    try:
        with pinned(skewed, 2, skewed.admin_token) as admin:
            assert eventually(lambda: admin.admin.node_info().clock_refusing_writes)
            assert admin.admin.node_info().clock_ahead_ms > 5_000
        with pinned(skewed, 2, token, attempts=1) as client:
            with pytest.raises(Unavailable, match="clock runs .* ahead of its peers"):
                client.dataset(ds).put("far", "k", "future")
            assert client.dataset(ds).get("far", "k") is None  # reads still served
    finally:
        set_offset(skewed, 2, OFFSETS[2])
    with pinned(skewed, 2, skewed.admin_token) as admin:
        assert eventually(lambda: not admin.admin.node_info().clock_refusing_writes)
    with pinned(skewed, 2, token, attempts=12) as client:
        assert client.dataset(ds).put("far", "k", "now").superseded == 0


def test_a_far_future_version_sent_as_a_replica_write_is_refused_and_not_stored(skewed) -> None:
    """What a node 60 s ahead would send a peer on the replica stream (its own write, a
    read repair or a hint): refused INVALID_ARGUMENT, nothing stored, counted."""
    token, pkeys = split_keys(skewed)
    future = pack(wall_clock_ms() + 60_000)
    write = peer_pb2.ReplicaWrite(pkey=pkeys[0].encode(), lkey=b"future", entry=peer_pb2.Entry(
        found=True, version=types_pb2.Version(timestamp=future, writer=3), value=b"x"))
    # Storage (and the peer wire) key a dataset by name@incarnation: read it off node 1's
    # column families, as a peer would know it.
    storage = next(cf[len("ds."):] for cf in Rdict.list_cf(str(skewed.node(1).data_dir / "db"))
                   if cf in ("ds.split",) or cf.startswith("ds.split@"))
    batch = peer_pb2.ReplicaBatch(ops=[peer_pb2.ReplicaOp(id=1, apply=peer_pb2.ApplyOp(
        dataset=storage, writes=[write]))])
    with grpc.insecure_channel(skewed.node(1).address) as channel:
        replies = peer_pb2_grpc.PeerStub(channel).Replicate(
            iter([batch]), metadata=(("authorization", f"Bearer {skewed.admin_token}"),),
            timeout=10)
        [reply] = next(replies).replies
    assert reply.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "ahead of this node's clock" in reply.message
    with pinned(skewed, 1, token) as client:
        assert client.dataset("split").get(pkeys[0], "future", consistency=Consistency.ONE) is None
    with pinned(skewed, 1, skewed.admin_token) as admin:
        assert admin.admin.node_info().timestamps_refused >= 1


def test_a_far_future_node_gets_its_timestamps_onto_no_peer_by_any_path(skewed) -> None:
    """Node 3 (which never refuses) runs 60 s ahead and writes while node 1 is down: node 2
    refuses the replica write, node 1 refuses (and node 3 drops) the hint when it is back,
    an ALL read or scan through node 1 neither returns nor read-repairs it, and `manhattan repair`
    streams nothing of it to either. Last in the module: node 3's
    clock stays ahead for a minute."""
    token, ds = new_dataset(skewed)
    skewed.node(1).kill()
    wait_until_down(skewed, 1, observer=3)
    set_offset(skewed, 3, 60_000)
    with pinned(skewed, 3, token) as client:
        attempts = itertools.count()
        keys = []  # until node 3 has read its new offset, its writes are ordinary ones
        assert eventually(lambda: _future_write(client, ds, f"future{next(attempts)}", keys))
    [key] = keys
    skewed.node(1).start()
    wait_until_up(skewed, 1)
    with pinned(skewed, 3, skewed.admin_token) as admin:
        assert eventually(lambda: (info := admin.admin.node_info()).hints_dropped >= 1
                          and not info.hints_pending.get(1), timeout=30)
    for node_id in (1, 2):
        with pinned(skewed, node_id, token) as client:
            assert client.dataset(ds).get(key, "k", consistency=Consistency.ONE) is None
    with pinned(skewed, 1, token) as client:  # node 3's answer counts as absent: no repair
        assert client.dataset(ds).get(key, "k", consistency=Consistency.ALL) is None
        assert list(client.dataset(ds).scan(key, consistency=Consistency.ALL)) == []
    repair = run_cli(skewed, "repair", "--dataset", ds, "-o", "json")
    assert repair.returncode == 0, repair.stderr
    for node_id in (1, 2):
        with pinned(skewed, node_id, token) as client:
            assert client.dataset(ds).get(key, "k", consistency=Consistency.ONE) is None
        with pinned(skewed, node_id, skewed.admin_token) as admin:
            assert admin.admin.node_info().timestamps_refused >= 1


def _future_write(client: Client, ds: str, key: str, keys: list[str]) -> bool:
    """A ONE write of ``key`` through node 3 (node 3 keeps its own copy); True, with the key
    noted, once node 3's clock was ahead for it."""
    version = client.dataset(ds).put(key, "k", "from-the-future", consistency=Consistency.ONE)
    if physical_ms(version.timestamp) > wall_clock_ms() + 30_000:
        keys.append(key)
        return True
    return False
