"""Read each replica's own copy of keys, without read repair.

The SDK has no "read this replica's local copy" call (a read at ONE pinned to a node is
still coordinated: the node asks the replicas it chooses). The node-to-node stream
(``Peer.Replicate`` with ``ReadOp``, admin token) returns exactly what the replica stores,
tombstones and versions included, and repairs nothing: that is what convergence needs.
"""

from __future__ import annotations

import hashlib
import itertools

import grpc

from manhattan.proto.v1 import peer_pb2, peer_pb2_grpc, types_pb2

from manhattan.client import Client, RoundRobinPolicy, TopologyCache

from jepsen.checkers.convergence import Digest

CHUNK = 500
_storage_ids: dict[tuple[str, str], str] = {}


def storage_id(address: str, token: str, dataset: str) -> str:
    """The name node-to-node operations know a dataset by (``name@incarnation`` since the
    metadata log; the bare name before), as the node at ``address`` lists it."""
    cached = _storage_ids.get((address, dataset))
    if cached is not None:
        return cached
    with Client([address], token=token, routing=RoundRobinPolicy([address])) as admin:
        found = next((info.storage_id for info in admin.admin.list_datasets()
                      if info.name == dataset), None)
    if found is None:
        raise RuntimeError(f"node {address} has no dataset {dataset!r}")
    _storage_ids[(address, dataset)] = found
    return found


def _digest(entry: peer_pb2.Entry) -> Digest:
    if not entry.found:
        return None
    return (entry.version.timestamp, entry.version.writer, entry.tombstone,
            hashlib.sha1(entry.value).hexdigest()[:12])


def read_replica(address: str, token: str, dataset: str, keys: list[tuple[str, str]],
                 timeout: float = 10.0) -> dict[str, Digest]:
    """``{"pkey/lkey": digest}`` as stored on the node at ``address``."""
    ids = itertools.count(1)
    batches = []
    index: dict[int, list[str]] = {}
    dataset = storage_id(address, token, dataset) if keys else dataset
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        op_id = next(ids)
        index[op_id] = [f"{p}/{l}" for p, l in chunk]
        batches.append(peer_pb2.ReplicaBatch(ops=[peer_pb2.ReplicaOp(id=op_id, read=peer_pb2.ReadOp(
            dataset=dataset, keys=[types_pb2.Key(pkey=p.encode(), lkey=l.encode())
                                   for p, l in chunk]))]))
    out: dict[str, Digest] = {}
    if not batches:
        return out
    with grpc.insecure_channel(address) as channel:
        stub = peer_pb2_grpc.PeerStub(channel)
        call = stub.Replicate(iter(batches), timeout=timeout,
                              metadata=(("authorization", f"Bearer {token}"),))
        for replies in call:
            for reply in replies.replies:
                if reply.code != 0:
                    raise RuntimeError(f"replica read on {address} failed: {reply.message}")
                for name, entry in zip(index.pop(reply.id), reply.entries):
                    out[name] = _digest(entry)
            if not index:
                break
        call.cancel()
    if index:
        raise RuntimeError(f"replica read on {address}: {len(index)} batches unanswered")
    return out


def replica_sets(addresses: dict[int, str], token: str, dataset: str, rf: int,
                 keys: list[tuple[str, str]]) -> dict[int, list[tuple[str, str]]]:
    """``{node id: the keys it is a replica of}``, from the ring as the SDK computes it
    (asked of the nodes: the current topology)."""
    cache = TopologyCache(default_replication_factor=rf)
    with Client(list(addresses.values()), token=token, timeout=5, topology=cache) as client:
        client.refresh_topology()
        out: dict[int, list[tuple[str, str]]] = {n: [] for n in addresses}
        for key in keys:
            for member in cache.replicas(dataset, key[0].encode()):
                out.setdefault(member.id, []).append(key)
    return out


def snapshot(addresses: dict[int, str], token: str, dataset: str,
             keys: list[tuple[str, str]], rf: int | None = None) -> dict[str, dict[str, Digest]]:
    """``{key: {node: digest}}``: each key as stored on each of its replicas (every node
    when ``rf`` is None)."""
    owned = (replica_sets(addresses, token, dataset, rf, keys) if rf is not None
             else {n: keys for n in addresses})
    missing = [n for n in owned if n not in addresses]
    if missing:
        raise RuntimeError(f"replicas {missing} are not running members")
    per_node = {f"n{n}": read_replica(addresses[n], token, dataset, owned[n])
                for n in addresses}
    out: dict[str, dict[str, Digest]] = {}
    for node, digests in per_node.items():
        for key, d in digests.items():
            out.setdefault(key, {})[node] = d
    return out


def erase_on_every_replica(addresses: dict[int, str], token: str, dataset: str, pkey: str,
                           lkey: str) -> None:
    """Canary: write a fresh tombstone for one key straight into every replica's store.

    Used only by ``--canary`` to prove end to end that a lost acknowledged write makes the
    run fail (the replicas still agree, so only the set checker can notice)."""
    overwrite_on_every_replica(addresses, token, dataset, pkey, lkey, None)


def overwrite_on_every_replica(addresses: dict[int, str], token: str, dataset: str, pkey: str,
                               lkey: str, value: bytes | None, counter: bool = False) -> None:
    """Canary: a fresh version of one key (``value``, or a tombstone for None) written
    straight into every node's store over the node-to-node stream, behind the history's
    back, newer than anything a client wrote (``counter``: a counter state, merged)."""
    from manhattan.hlc import pack, wall_clock_ms

    entry = peer_pb2.Entry(found=True, tombstone=value is None, value=value or b"",
                           counter=counter,
                           version=types_pb2.Version(timestamp=pack(wall_clock_ms() + 20_000),
                                                     writer=1))
    op = peer_pb2.ReplicaOp(id=1, apply=peer_pb2.ApplyOp(dataset=dataset, sync=True, writes=[
        peer_pb2.ReplicaWrite(pkey=pkey.encode(), lkey=lkey.encode(), entry=entry)]))
    for address in addresses.values():
        op.apply.dataset = storage_id(address, token, dataset)
        with grpc.insecure_channel(address) as channel:
            call = peer_pb2_grpc.PeerStub(channel).Replicate(
                iter([peer_pb2.ReplicaBatch(ops=[op])]), timeout=10,
                metadata=(("authorization", f"Bearer {token}"),))
            for replies in call:
                if any(r.code != 0 for r in replies.replies):
                    raise RuntimeError(f"canary write on {address} failed")
                break
            call.cancel()
