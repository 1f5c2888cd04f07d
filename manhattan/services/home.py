"""Home timelines, the write side: push, remove, trim.

A home timeline is the partition ``home/<user>``: lkey = tweet id, value = the
author (so unfollow and read-time filters need no hydration). Trimming keeps
the newest ``cap`` entries without piling up tombstones where reads go: it
first records a *floor* (the newest trimmed id) and only then deletes what is
at or below it. Reads scan newest-first and stop at the floor, so they never
walk over trimmed entries; below the floor a read pulls from the followees'
own timelines instead.
"""

from __future__ import annotations

from manhattan.client import AsyncClient, Delete, Put
from manhattan.services.scans import first_records
from manhattan.services.schema import TOP, Datasets, id_key, key_id
from manhattan.services.users import Users
from manhattan.types import Consistency

Q = Consistency.QUORUM
MAX_BATCH = 500


class HomeTimelines:
    """Entries of every user's home timeline."""

    def __init__(self, client: AsyncClient, datasets: Datasets, users: Users, *,
                 cap: int) -> None:
        self.data = client.dataset(datasets.home)
        self.users = users
        self.cap = cap
        self.trims = 0

    async def push(self, entries: list[tuple[str, int, str]]) -> None:
        """Store (user, tweet id, author) entries; batched per replica set by the SDK."""
        for start in range(0, len(entries), MAX_BATCH):
            chunk = entries[start:start + MAX_BATCH]
            await self.data.put_many([Put(u, id_key(t), a) for u, t, a in chunk], consistency=Q)

    async def remove(self, entries: list[tuple[str, int]]) -> None:
        """Delete (user, tweet id) entries."""
        for start in range(0, len(entries), MAX_BATCH):
            chunk = entries[start:start + MAX_BATCH]
            await self.data.put_many([Delete(u, id_key(t)) for u, t in chunk], consistency=Q)

    async def newest(self, user: str, *, below: int, floor: int, limit: int
                     ) -> list[tuple[int, str]]:
        """(tweet id, author) with floor < id < below, newest first."""
        if below <= floor + 1 or limit <= 0:
            return []
        records = await first_records(self.data, user, limit, start=id_key(floor + 1),
                                      end=id_key(below), reverse=True)
        return [(key_id(r.lkey), r.value.decode()) for r in records]

    async def remove_author(self, user: str, author: str) -> int:
        """Delete every stored entry of ``author`` from ``user``'s timeline; how many."""
        floor = await self.users.floor(user)
        doomed: list[tuple[str, int]] = []
        async for record in self.data.iter_scan(user, start=id_key(floor + 1), page_size=1000,
                                                consistency=Q):
            if record.value.decode() == author:
                doomed.append((user, key_id(record.lkey)))
        await self.remove(doomed)
        return len(doomed)

    async def trim(self, user: str, floor: int | None = None) -> int:
        """Keep the newest ``cap`` entries: raise the floor, then delete below it.
        ``floor``: the current floor, when the caller has just read it."""
        if floor is None:
            floor = await self.users.floor(user)
        newest = await self.newest(user, below=TOP, floor=floor, limit=self.cap + 1)
        if len(newest) <= self.cap:
            return 0
        removed = await self.raise_floor(user, newest[self.cap][0], floor)
        self.trims += 1
        return removed

    async def raise_floor(self, user: str, new_floor: int, floor: int) -> int:
        """Move the floor up to ``new_floor`` (durably, first), then delete the stored
        entries it uncovered; how many."""
        await self.users.raise_floor(user, new_floor, floor)
        doomed = [(user, key_id(r.lkey)) async for r in self.data.iter_scan(
            user, start=id_key(floor + 1), end=id_key(new_floor + 1), page_size=1000,
            consistency=Q)]
        await self.remove(doomed)
        return len(doomed)
