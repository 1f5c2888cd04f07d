"""The write blob a coordinator sends every replica of a set: it round-trips, a damaged
or truncated blob is refused whole (INVALID_ARGUMENT on a real node's replica stream)
and nothing of it is applied."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manhattan.client import Client, Consistency, RetryPolicy, RoundRobinPolicy
from manhattan.hlc import pack, wall_clock_ms
from manhattan.node.local_cluster import LocalCluster
from manhattan.proto.v1 import peer_pb2, peer_pb2_grpc
from manhattan.replication import write_blob
from manhattan.replication.write_blob import CorruptBlob
from manhattan.storage import Entry, Version, Write
from tests.clusters import start_cluster



@st.composite
def batches(draw, writer: int | None = None) -> list[Write]:
    """Writes as a coordinator versions them: one writer, timestamps near one base."""
    writer = draw(st.integers(0, 2**32 - 1)) if writer is None else writer
    base = draw(st.integers(0, 2**63))
    count = draw(st.integers(1, 20))
    writes = []
    for _ in range(count):
        entry = Entry(Version(base + draw(st.integers(0, 2**32 - 1)), writer),
                      draw(st.binary(max_size=300)), draw(st.integers(0, 2**64 - 1)),
                      draw(st.booleans()), draw(st.booleans()))
        writes.append(Write(draw(st.binary(max_size=40)), draw(st.binary(max_size=40)), entry))
    return writes


@given(batches())
def test_a_blob_round_trips(writes):
    blob = write_blob.encode(writes)
    assert blob is not None
    assert write_blob.decode(blob) == writes


@given(batches(writer=1), st.integers(2, 9))
def test_writes_of_several_writers_are_not_blobbed(writes, other):
    mixed = [*writes, Write(b"p", b"l", Entry(Version(writes[0].entry.version.timestamp,
                                                      other)))]
    assert write_blob.encode(mixed) is None
    assert write_blob.encode([]) is None


@given(batches(), st.data())
def test_a_truncated_blob_is_refused(writes, data):
    blob = write_blob.encode(writes)
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(CorruptBlob):
        write_blob.decode(blob[:cut])


@settings(max_examples=300)
@given(batches(), st.data())
def test_any_damaged_byte_is_refused(writes, data):
    # (the header's base timestamp and writer included: found when only the records
    # were checksummed, a flipped base timestamp decoded as other versions)
    blob = bytearray(write_blob.encode(writes))
    at = data.draw(st.integers(0, len(blob) - 1))
    blob[at] ^= data.draw(st.integers(1, 255))
    with pytest.raises(CorruptBlob):
        write_blob.decode(bytes(blob))


def test_every_header_byte_is_covered():
    blob = write_blob.encode([Write(b"", b"", Entry(Version(0, 0)))])
    for at in range(24):  # magic, count, base timestamp, writer, checksum
        damaged = bytearray(blob)
        damaged[at] ^= 1
        with pytest.raises(CorruptBlob):
            write_blob.decode(bytes(damaged))


@given(st.binary(max_size=200))
def test_bytes_that_are_no_blob_are_refused(junk):
    with pytest.raises(CorruptBlob):
        write_blob.decode(junk)


@settings(max_examples=20)
@given(batches(), st.binary(min_size=1, max_size=8))
def test_bytes_after_the_last_record_are_refused(writes, tail):
    blob = write_blob.encode(writes)
    with pytest.raises(CorruptBlob):
        write_blob.decode(blob + tail)


# -- on a real node's replica stream ----------------------------------------------------------

@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[tuple[LocalCluster, str, str]]:
    """One node, a tenant token and the storage id of its RF=1 dataset ``blobs``."""
    local = start_cluster(tmp_path_factory.mktemp("blob"), nodes=1)
    try:
        with Client(local.endpoints, token=local.admin_token) as admin:
            token = admin.admin.create_tenant("blob-t", timeout=30)
            info = admin.admin.create_dataset("blobs", tenant="blob-t", replication_factor=1,
                                              timeout=30)
        yield local, token, f"blobs@{info.incarnation}"
    finally:
        local.stop()


def _send(local: LocalCluster, op: peer_pb2.ReplicaOp) -> peer_pb2.ReplicaReply:
    op.id = 1
    with grpc.insecure_channel(local.node(1).address) as channel:
        replies = peer_pb2_grpc.PeerStub(channel).Replicate(
            iter([peer_pb2.ReplicaBatch(ops=[op])]),
            metadata=(("authorization", f"Bearer {local.admin_token}"),), timeout=10)
        [reply] = next(replies).replies
    return reply


def _stored(local: LocalCluster, token: str, lkeys: list[bytes]) -> list[bytes | None]:
    with Client(local.endpoints, token=token, routing=RoundRobinPolicy(local.endpoints),
                retry=RetryPolicy(max_attempts=3)) as client:
        records = [client.dataset("blobs").get(b"p", lkey, consistency=Consistency.ONE)
                   for lkey in lkeys]
    return [r.value if r is not None else None for r in records]


def _blob_op(storage: str, blob: bytes) -> peer_pb2.ReplicaOp:
    return peer_pb2.ReplicaOp(apply_blob=peer_pb2.ApplyBlobOp(dataset=storage, writes=blob))


def _writes(tag: bytes) -> list[Write]:
    now = pack(wall_clock_ms())
    return [Write(b"p", tag + b"%d" % i, Entry(Version(now + i, 7), tag + b"-value"))
            for i in range(3)]


def test_a_blob_on_the_replica_stream_is_applied(node):
    local, token, storage = node
    writes = _writes(b"good")
    reply = _send(local, _blob_op(storage, write_blob.encode(writes)))
    assert reply.code == 0 and not reply.kept, reply.message
    assert _stored(local, token, [w.lkey for w in writes]) == [b"good-value"] * 3


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_blob_is_refused_and_nothing_of_it_applied(node, damage):
    local, token, storage = node
    writes = _writes(damage.encode())
    blob = bytearray(write_blob.encode(writes))
    if damage == "flip":
        blob[-1] ^= 0xFF  # inside the last value
    else:
        del blob[-5:]
    reply = _send(local, _blob_op(storage, bytes(blob)))
    assert reply.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "blob" in reply.message
    assert _stored(local, token, [w.lkey for w in writes]) == [None] * 3
