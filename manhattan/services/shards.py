"""Which queue shards have work: the fan-out worker's wake-up.

Producers in this process call ``notify(shard, key)`` once a job is stored; the worker
``take``s the shards woken since its last pass, each with the lowest key queued there,
and reads only those shards, from that key. ``take`` swaps the set and clears the event
in one step (no ``await`` between), so a job queued while a pass runs wakes the next
pass: no wake-up is lost, and an idle shard is never read for a wake-up.
"""

from __future__ import annotations

import asyncio


class ShardWork:
    """Shards woken since the last ``take``, with the lowest key queued in each."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self._woken: dict[int, bytes] = {}

    def notify(self, shard: int, key: bytes) -> None:
        low = self._woken.get(shard)
        if low is None or key < low:
            self._woken[shard] = key
        self.event.set()

    def take(self) -> dict[int, bytes]:
        """The woken shards (and where to start in each); the set starts over empty."""
        woken, self._woken = self._woken, {}
        self.event.clear()
        return woken
