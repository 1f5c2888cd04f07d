"""Byte-bounded chunking: every message a node builds stays under its limit."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, strategies as st

from manhattan.cluster.failure_detector import PhiAccrualDetector
from manhattan.proto.v1 import peer_pb2, types_pb2
from manhattan.replication.chunking import (
    ItemTooLarge, chunk_by_bytes, fitting_prefix, message_budget, proto_size,
)
from manhattan.replication.peer_link import MessageTooLarge, PeerLink

blobs = st.lists(st.binary(max_size=64), max_size=60)


@given(items=blobs, max_bytes=st.integers(64, 400), max_count=st.none() | st.integers(1, 10))
def test_every_chunk_is_under_the_limit_and_together_they_are_the_input(items, max_bytes,
                                                                         max_count):
    chunks = list(chunk_by_bytes(items, len, max_bytes, max_count))
    assert [item for chunk in chunks for item in chunk] == items
    for chunk in chunks:
        assert chunk, "no empty chunk"
        assert sum(len(item) for item in chunk) <= max_bytes
        assert max_count is None or len(chunk) <= max_count


@given(items=blobs, max_bytes=st.integers(1, 400))
def test_chunks_are_full_a_chunk_ends_only_where_the_next_item_would_not_fit(items, max_bytes):
    try:
        chunks = list(chunk_by_bytes(items, len, max_bytes))
    except ItemTooLarge:
        return
    for chunk, following in zip(chunks, chunks[1:]):
        assert sum(map(len, chunk)) + len(following[0]) > max_bytes


@given(before=blobs, big=st.integers(1, 100), after=blobs)
def test_a_single_item_over_the_limit_is_refused(before, big, after):
    limit = 64
    oversized = b"x" * (limit + big)
    emitted = []
    with pytest.raises(ItemTooLarge) as refused:
        for chunk in chunk_by_bytes([*before, oversized, *after], len, limit):
            emitted.extend(chunk)
    assert refused.value.size == len(oversized) and refused.value.max_bytes == limit
    assert oversized not in emitted and emitted == before[:len(emitted)]


@given(sizes=st.lists(st.integers(0, 100), max_size=50), max_bytes=st.integers(1, 300))
def test_fitting_prefix_fits_or_is_one_item_and_always_makes_progress(sizes, max_bytes):
    n = fitting_prefix(sizes, max_bytes)
    if not sizes:
        assert n == 0
        return
    assert 1 <= n <= len(sizes)
    assert sum(sizes[:n]) <= max_bytes or n == 1
    if n < len(sizes):
        assert sum(sizes[:n + 1]) > max_bytes


@given(values=st.lists(st.binary(max_size=2000), min_size=1, max_size=40),
       max_bytes=st.integers(2100, 20_000))
def test_proto_size_bounds_a_repeated_field_so_chunked_messages_fit(values, max_bytes):
    replies = [peer_pb2.ReplicaReply(id=i, entries=[peer_pb2.Entry(
        found=True, value=v, version=types_pb2.Version(timestamp=2**60, writer=7))])
        for i, v in enumerate(values)]
    for chunk in chunk_by_bytes(replies, proto_size, max_bytes):
        assert peer_pb2.ReplicaReplies(replies=chunk).ByteSize() <= max_bytes


def test_message_budget_leaves_room_under_the_grpc_limit():
    assert message_budget(64 << 20) < 64 << 20
    assert message_budget(1 << 20) >= 1 << 19
    with pytest.raises(ValueError):
        next(chunk_by_bytes([b"a"], len, 0))


def test_a_peer_operation_too_large_for_any_message_is_refused_before_it_is_queued():
    op = peer_pb2.ReplicaOp(apply=peer_pb2.ApplyOp(dataset="ds", writes=[
        peer_pb2.ReplicaWrite(pkey=b"p", lkey=b"l", entry=peer_pb2.Entry(found=True,
                                                                          value=b"v" * 300_000))]))

    async def send() -> None:
        # Built inside the loop that runs it: a grpc.aio channel binds to the running
        # loop, and outside one it asks for the default loop, which an earlier test's
        # asyncio.run may have closed and unset ("no current event loop").
        link = PeerLink(2, "127.0.0.1:1", metadata=(), detector=PhiAccrualDetector(),
                        max_message_bytes=256 * 1024)
        try:
            with pytest.raises(MessageTooLarge, match="exceeds"):
                await link.call(op, timeout=1.0)
            assert link._stream is None  # nothing queued, no stream opened for it
        finally:
            await link.close()

    asyncio.run(send())
