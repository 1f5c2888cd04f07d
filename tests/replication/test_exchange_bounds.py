"""Anti-entropy key lists bounded in bytes: an exchange reply covers the leading segments
whose keys fit (at least one), and asking again for the rest yields exactly what one
unbounded answer would have held."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from manhattan.hlc import pack
from manhattan.replication.antientropy.hashtree import (
    LEAF_BITS, segment_versions, segment_versions_bounded,
)
from manhattan.storage import Entry, Version, Write
from manhattan.storage.keys import ring_position

RING = [(0, 1 << 32)]


def segment_of(pkey: bytes) -> int:
    return ring_position(pkey) >> (32 - LEAF_BITS)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pkeys=st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=80, unique=True),
       max_bytes=st.integers(1, 2000))
def test_bounded_key_lists_cover_a_prefix_of_segments_and_add_up_to_the_whole(
        engine, pkeys, max_bytes):
    engine.apply("ds", [Write(p, b"l", Entry(Version(pack(1000 + i), 1), b"v", 0, False))
                        for i, p in enumerate(pkeys)])
    segments = sorted({segment_of(p) for p in pkeys})
    whole = segment_versions(engine, "ds", RING, segments)
    gathered: dict[bytes, bytes] = {}
    i = 0
    while i < len(segments):
        part, covered = segment_versions_bounded(engine, "ds", RING, segments[i:], max_bytes)
        assert covered >= 1
        assert covered == 1 or sum(len(k) + len(v) + 16 for k, v in part.items()) <= max_bytes
        assert part == segment_versions(engine, "ds", RING, segments[i:i + covered])
        gathered.update(part)
        i += covered
    assert gathered == whole
