"""The YCSB Store adapter for Manhattan's SDK: (pkey, lkey) = (bucket, item).

A scan is one ``scan_page`` request (one round trip to one replica set) for up
to ``count`` records of the bucket from the item on. Writes default to
BUFFERED durability (in the WAL, fsynced in the background), the closest to
Redis' ``appendfsync everysec``; the load phase writes at ALL so that reads at
ONE never miss a record that another replica has not received yet.
"""

from __future__ import annotations

from manhattan.bench.workloads import Key, StoreBase
from manhattan.client import Consistency, Dataset, Durability, Put, Timeout

LOAD_ATTEMPTS = 3


class ManhattanStore(StoreBase):
    """One dataset through the sync SDK, at a fixed consistency level."""

    def __init__(self, dataset: Dataset, *, consistency: Consistency = Consistency.QUORUM,
                 durability: Durability = Durability.BUFFERED,
                 load_consistency: Consistency = Consistency.ALL,
                 name: str | None = None) -> None:
        self.dataset = dataset
        self.consistency = consistency
        self.durability = durability
        self.load_consistency = load_consistency
        self.name = name or f"manhattan {consistency.name}"

    def read(self, key: Key) -> bytes | None:
        record = self.dataset.get(key.bucket, key.item, consistency=self.consistency)
        return None if record is None else record.value

    def update(self, key: Key, value: bytes) -> None:
        self.dataset.put(key.bucket, key.item, value, consistency=self.consistency,
                         durability=self.durability)

    insert = update

    def scan(self, key: Key, count: int) -> int:
        page = self.dataset.scan_page(key.bucket, start=key.item, limit=count,
                                      consistency=self.consistency)
        return len(page.records)

    def load(self, items: list[tuple[Key, bytes]]) -> None:
        """One batch at ``load_consistency``. A Timeout (one replica slow to ack, e.g. a
        dataset created a moment ago) is sent again: writing the same values twice
        leaves the same data, and the load must reach every replica."""
        puts = [Put(k.bucket, k.item, v) for k, v in items]
        for attempt in range(1, LOAD_ATTEMPTS + 1):
            try:
                self.dataset.put_many(puts, consistency=self.load_consistency,
                                      durability=self.durability)
                return
            except Timeout:
                if attempt == LOAD_ATTEMPTS:
                    raise
