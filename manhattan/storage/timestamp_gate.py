"""The clock's say over what the engine stores: no far-future version gets in.

Every path that stores a version (replica writes, read repair, hints, range
streaming, anti-entropy) ends in ``RocksEngine.apply`` or ``apply_raw``, so the
skew check lives here, once: a version further ahead of this node's clock than
``clock.max_skew_ms`` is refused (it would win last-writer-wins against every
later write), and the newest version admitted is absorbed by the node's clock,
so the node never issues a timestamp below one it stored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from manhattan.storage.records import decode_version

log = logging.getLogger("manhattan.storage")


class TimestampGate(Protocol):
    """What the engine asks of the node's clock (``manhattan.hlc.HybridClock``)."""

    def observe(self, received: int) -> None:
        """Absorb ``received``; raise ``ClockSkewError`` when it is too far ahead."""

    def admissible(self, received: int) -> bool:
        """Whether ``received`` is close enough to this node's clock to store."""


def admit_raw(gate: TimestampGate, items: Sequence[tuple[bytes, bytes]]
              ) -> tuple[list[tuple[bytes, bytes]], int]:
    """The (storage key, stored value) pairs whose versions the clock admits, and how
    many were refused; the newest admitted version is absorbed by the clock."""
    kept: list[tuple[bytes, bytes]] = []
    newest = 0
    for key, raw in items:
        timestamp = decode_version(raw).timestamp
        if gate.admissible(timestamp):
            kept.append((key, raw))
            newest = max(newest, timestamp)
    if newest:
        gate.observe(newest)
    refused = len(items) - len(kept)
    if refused:
        log.warning("refused %d streamed or repaired versions too far ahead of this node's "
                    "clock", refused)
    return kept, refused
