"""Hint replay on a real engine and hint store: operations bounded in bytes, hints older
than the tombstone grace dropped unsent (counted), hints that can never fit one message
dropped (counted), never retried forever. The peer here is the replica-call function
that records what it is sent (tests/replication/test_bounded_messages.py and
test_tombstones.py replay hints between real nodes)."""

from __future__ import annotations

import asyncio

from manhattan.cluster.failure_detector import PhiAccrualDetector
from manhattan.cluster.membership import Membership
from manhattan.cluster.topology import Member, Topology
from manhattan.hlc import pack
from manhattan.proto.v1 import peer_pb2
from manhattan.replication.hints import HintReplay, HintStore
from manhattan.storage import Entry, Version, Write

NOW_MS = 1_800_000_000_000
GRACE_MS = 10_000
KiB = 1024


def write(i: int, size: int, age_ms: int = 0) -> Write:
    return Write(b"p", b"%04d" % i, Entry(Version(pack(NOW_MS - age_ms), 1), b"v" * size, 0,
                                          False))


def replay(engine, hints: HintStore, max_bytes: int) -> tuple[int, list[peer_pb2.ReplicaOp]]:
    sent: list[peer_pb2.ReplicaOp] = []

    async def call(member, op, timeout):
        sent.append(op)
        return peer_pb2.ReplicaReply()

    async def durable():
        engine.sync()

    detector = PhiAccrualDetector()
    detector.heartbeat(2)
    membership = Membership(engine, 1, Topology(1, (Member(1, "127.0.0.1:1"),
                                                    Member(2, "127.0.0.1:2"))))
    replayer = HintReplay(hints=hints, membership=membership, detector=detector,
                          engine=engine, call=call, durable=durable, replica_timeout=1.0,
                          max_bytes=max_bytes)
    return asyncio.run(replayer.replay(batch=500)), sent


def test_replay_ops_are_bounded_in_bytes_and_deliver_every_hint_once(engine):
    hints = HintStore(engine, grace_ms=GRACE_MS, now_ms=lambda: NOW_MS)
    hints.add(2, "ds", [write(i, 100 * KiB) for i in range(40)])  # 4 MB of hints
    delivered, sent = replay(engine, hints, max_bytes=512 * KiB)
    assert delivered == 40 and hints.pending[2] == 0 and hints.replayed[2] == 40
    assert len(sent) >= 8
    assert all(op.ByteSize() <= 512 * KiB for op in sent)
    assert [w.lkey for op in sent for w in op.apply.writes] == [b"%04d" % i for i in range(40)]


def test_hints_older_than_the_grace_are_dropped_unsent_and_counted(engine):
    hints = HintStore(engine, grace_ms=GRACE_MS, now_ms=lambda: NOW_MS)
    hints.add(2, "ds", [write(i, 10, age_ms=GRACE_MS + 1) for i in range(5)])
    hints.add(2, "ds", [write(i, 10, age_ms=GRACE_MS - 1000) for i in range(5, 8)])
    delivered, sent = replay(engine, hints, max_bytes=512 * KiB)
    assert delivered == 3 and hints.pending[2] == 0
    assert hints.expired[2] == 5 and hints.dropped[2] == 5
    assert [w.lkey for op in sent for w in op.apply.writes] == [b"0005", b"0006", b"0007"]


def test_a_hint_too_large_for_any_message_is_dropped_and_counted_not_retried(engine):
    hints = HintStore(engine, grace_ms=GRACE_MS, now_ms=lambda: NOW_MS)
    hints.add(2, "ds", [write(0, 10), write(1, 300 * KiB), write(2, 10)])
    delivered, sent = replay(engine, hints, max_bytes=200 * KiB)
    assert delivered == 2 and hints.dropped[2] == 1 and hints.pending[2] == 0
    assert [w.lkey for op in sent for w in op.apply.writes] == [b"0000", b"0002"]
    assert replay(engine, hints, max_bytes=200 * KiB) == (0, [])  # nothing left to retry
