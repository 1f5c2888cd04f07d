"""Home timelines, the write side and the state: push, remove, trim, seen, rebuild.

A home timeline is the partition ``home/<user>``: lkey = tweet id, value = the
author (so unfollow and read-time filters need no hydration). The same partition
holds the timeline's state above every id (``schema.HOME_STATE``): when the user
was last seen, the rebuild running for them, and the trim *floor* (the newest
trimmed id). So a page's first read is one reverse scan from the top: the state,
then the newest entries.

Trimming keeps the newest ``cap`` entries and runs on each replica (``Dataset.trim``):
no entry travels to the service and back. It writes tombstones of one version, so
an entry delivered after the trim started is never dropped (even one that sorts below
the cut: it then sits below the floor), and a replica that missed the trim converges
by repair. The floor is recorded after the trim, and only ever raised (a compare-and-
set): trims run in parallel (deliveries of different tweets, a follow's merge), and a
slow trim's floor landing last must not put a lower floor back over a higher one. A
floor below a trimmed entry would let a read take a live entry below that one (one
delivered after the trim) as the next of the timeline, skipping the trimmed one.
Reads below the floor pull from the followees' own timelines; a read that runs out of
entries above the floor pulls from below the last entry it read, so a floor that is
late (the trim is done, its floor not yet written) hides nothing there either.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from manhattan.client import AsyncClient, ConditionFailed, Delete, Put, Record
from manhattan.services.caches import TtlCache
from manhattan.services.scans import first_records
from manhattan.services.schema import (
    FLOOR, HOME_STATE, REBUILD, SEEN, TOP, Datasets, id_key, key_id,
)
from manhattan.types import Consistency, Durability

Q = Consistency.QUORUM
MAX_BATCH = 500
MAX_KEYS = 1000  # a node takes at most this many keys in one call
STATE_KEYS = (SEEN, REBUILD, FLOOR)
# Compare-and-set attempts to raise a floor that other trims keep raising meanwhile.
FLOOR_CAS_TRIES = 20
# Last-seen times read by fan-out, kept this long (a lower bound of the stored value).
SEEN_CACHE_S = 300.0
SEEN_CACHE_ENTRIES = 500_000


@dataclass(frozen=True, slots=True)
class TimelineState:
    """What a home-timeline read needs to know about its user."""

    seen_ms: int  # 0: never recorded (counts as active)
    rebuild_job: int  # 0 when no rebuild is running
    floor: int  # entries at or below this id were trimmed


@dataclass(frozen=True, slots=True)
class HomeView:
    """A home partition as one read sees it: the state and the newest entries (id,
    author) with floor < id < below, newest first, at most the limit asked."""

    state: TimelineState
    entries: list[tuple[int, str]]


def _number(raw: bytes | None) -> int:
    try:
        return int(raw) if raw else 0
    except ValueError:
        return 0


def _state(values: dict[bytes, bytes]) -> TimelineState:
    return TimelineState(_number(values.get(SEEN)), _number(values.get(REBUILD)),
                         _number(values.get(FLOOR)))


class HomeTimelines:
    """Entries and state of every user's home timeline."""

    def __init__(self, client: AsyncClient, datasets: Datasets, *, cap: int) -> None:
        self.data = client.dataset(datasets.home)
        self.cap = cap
        self.trims = 0
        # A user's last-seen time only grows (a visit records "now"), so a value read
        # once is a lower bound of it ever after: a user it shows active is active.
        self.seen: TtlCache[str, int] = TtlCache(SEEN_CACHE_S, SEEN_CACHE_ENTRIES)

    # -- reads ---------------------------------------------------------------------------

    async def view(self, user: str, *, below: int, limit: int) -> HomeView:
        """The state and up to ``limit`` newest entries below ``below``: one scan from
        the top for a first page, a scan and a multi-get at once past a cursor."""
        if below >= TOP:
            page = await self.data.scan_page(user, limit=limit + len(STATE_KEYS), reverse=True,
                                             consistency=Q)
            values = {r.lkey: r.value for r in page.records if r.lkey >= HOME_STATE}
            records = [r for r in page.records if r.lkey < HOME_STATE]
            more = page.cursor is not None
        elif limit > 0:
            page, found = await asyncio.gather(
                self.data.scan_page(user, end=id_key(below), limit=limit, reverse=True,
                                    consistency=Q),
                self.data.get_many([(user, k) for k in STATE_KEYS], consistency=Q))
            values = {r.lkey: r.value for r in found if r is not None}
            records, more = page.records, page.cursor is not None
        else:  # past the cap: the state alone
            found = await self.data.get_many([(user, k) for k in STATE_KEYS], consistency=Q)
            values = {r.lkey: r.value for r in found if r is not None}
            records, more = [], False
        state = _state(values)
        entries = [(key_id(r.lkey), r.value.decode()) for r in records]
        above = [e for e in entries if e[0] > state.floor]
        if more and len(above) == len(entries) and len(above) < limit:
            # A short page that did not reach the floor (tombstones counted against it):
            # the rest, bounded by the floor now that it is known.
            last = above[-1][0] if above else min(below, TOP)
            above += await self.newest(user, below=last, floor=state.floor,
                                       limit=limit - len(above))
        return HomeView(state, above[:limit])

    async def newest(self, user: str, *, below: int, floor: int, limit: int
                     ) -> list[tuple[int, str]]:
        """(tweet id, author) with floor < id < below, newest first."""
        if below <= floor + 1 or limit <= 0:
            return []
        records = await first_records(self.data, user, limit, start=id_key(floor + 1),
                                      end=id_key(min(below, TOP)), reverse=True)
        return [(key_id(r.lkey), r.value.decode()) for r in records]

    async def floor(self, user: str) -> int:
        """The trim floor (0: never trimmed)."""
        return _number(getattr(await self.data.get(user, FLOOR, consistency=Q), "value", None))

    async def activity(self, users: list[str], floors_of: list[str], horizon_ms: int
                       ) -> tuple[list[bool], dict[str, int]]:
        """Whether each of ``users`` is active (seen at or after ``horizon_ms``, or never
        recorded) and the floors of ``floors_of`` (those a delivery will also trim): one
        multi-get per ``MAX_KEYS`` keys, at once. A user a cached last-seen time shows
        active is not read again (the cached time is a lower bound); any other is."""
        def active(seen: int | None) -> bool:
            return seen is not None and (seen == 0 or seen >= horizon_ms)

        known = [self.seen.get(u) for u in users]
        ask = [u for u, seen in zip(users, known) if not active(seen)]
        keys = [(u, SEEN) for u in ask] + [(u, FLOOR) for u in floors_of]
        found = await asyncio.gather(*(
            self.data.get_many(keys[start:start + MAX_KEYS], consistency=Q)
            for start in range(0, len(keys), MAX_KEYS)))
        values = [_number(r.value if r is not None else None) for part in found for r in part]
        read = dict(zip(ask, values))
        for user, seen in read.items():
            self.seen.put(user, seen)
        verdicts = [active(seen) or active(read.get(u)) for u, seen in zip(users, known)]
        return verdicts, dict(zip(floors_of, values[len(ask):]))

    # -- state ---------------------------------------------------------------------------

    async def touch(self, user: str, now_ms: int) -> None:
        """Record a visit (or the creation of the user)."""
        await self.data.put(user, SEEN, str(now_ms), consistency=Q)

    async def set_rebuild(self, user: str, job_id: int) -> None:
        """Mark the timeline rebuilding under ``job_id`` (0: done)."""
        if job_id:
            await self.data.put(user, REBUILD, str(job_id), consistency=Q)
        else:
            await self.data.delete(user, REBUILD, consistency=Q)

    async def _record_floor(self, user: str, floor: int) -> None:
        """Raise the floor to ``floor``, never lower it: a compare-and-set against the
        floor read, so of trims recording at once (in any order) the highest stays."""
        current: Record | None = await self.data.get(user, FLOOR, consistency=Q)
        for _ in range(FLOOR_CAS_TRIES):
            if current is not None and _number(current.value) >= floor:
                return
            condition = ({"if_version": current.version} if current is not None
                         else {"if_absent": True})
            try:
                await self.data.put(user, FLOOR, str(floor), durability=Durability.SYNC,
                                    **condition)
                return
            except ConditionFailed as exc:
                current = exc.current  # another trim's floor landed first: compare again
        raise ConditionFailed(f"the floor of {user!r} kept changing: not raised to {floor}")

    # -- entries -------------------------------------------------------------------------

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

    async def remove_author(self, user: str, author: str) -> int:
        """Delete every stored entry of ``author`` from ``user``'s timeline; how many."""
        floor = await self.floor(user)
        doomed: list[tuple[str, int]] = []
        async for record in self.data.iter_scan(user, start=id_key(floor + 1), end=HOME_STATE,
                                                page_size=1000, consistency=Q):
            if record.value.decode() == author:
                doomed.append((user, key_id(record.lkey)))
        await self.remove(doomed)
        return len(doomed)

    async def trim(self, user: str, floor: int | None = None) -> int:
        """Keep the newest ``cap`` entries (each replica trims locally), then record the
        new floor; how many entries the trim removed. ``floor``: the current floor, when
        the caller knows it (the trim then walks only what is above it, not the
        tombstones of earlier trims)."""
        result = await self.data.trim(user, self.cap,
                                      start=id_key(floor + 1) if floor else None,
                                      end=HOME_STATE, consistency=Q)
        self.trims += 1
        if result.floor is not None and key_id(result.floor) > (floor or 0):
            await self._record_floor(user, key_id(result.floor))
        return result.removed

    async def raise_floor(self, user: str, new_floor: int, floor: int) -> int:
        """Move the floor up from ``floor`` to ``new_floor`` (durably, first; a floor
        raised higher meanwhile stays), then delete the stored entries it uncovered
        (each replica locally); how many."""
        await self._record_floor(user, new_floor)
        result = await self.data.trim(user, 0, start=id_key(floor + 1),
                                      end=id_key(new_floor + 1), consistency=Q)
        return result.removed
