"""Users: profiles, follower/following/tweet counts, activity and home-timeline state.

One partition per user in the ``users`` dataset holds everything small about
the user, so a home-timeline read learns what it needs in one get_many plus
one bounded scan. The counts are counters in the ``counts`` dataset (kind
counter): an increment from any service process is never lost to another's.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass

from manhattan.client import (
    AsyncClient, AsyncDataset, ConditionFailed, InvalidRequest, NotFound, Timeout,
)
from manhattan.errors import AlreadyExists
from manhattan.services.caches import TtlCache
from manhattan.services.leases import wall_ms
from manhattan.services.scans import first_records
from manhattan.services.schema import (
    FLOOR, FOLLOWERS_COUNT, FOLLOWING_COUNT, PROFILE, REBUILD, SEEN, TWEETS_COUNT, Datasets,
    encode_json, id_key, key_id,
)
from manhattan.types import Consistency, Durability

Q = Consistency.QUORUM
# Users are never deleted, so "exists" cannot go stale; entries still expire, to bound
# what a (future) deletion would have to wait for.
EXISTS_CACHE_S = 600.0


@dataclass(frozen=True, slots=True)
class TimelineState:
    """What a home-timeline read needs to know about its user."""

    seen_ms: int
    rebuild_job: int  # 0 when no rebuild is running
    floor: int  # entries at or below this id were trimmed
    following: int  # how many users they follow


class StripedLocks:
    """Serialises read-modify-write of one user's counters inside this process."""

    def __init__(self, stripes: int = 256) -> None:
        self._locks = [asyncio.Lock() for _ in range(stripes)]

    def __call__(self, name: str) -> asyncio.Lock:
        return self._locks[hash(name) % len(self._locks)]


class Users:
    """Profiles and per-user state."""

    def __init__(self, client: AsyncClient, datasets: Datasets) -> None:
        self.data = client.dataset(datasets.users)
        self.counts = client.dataset(datasets.counts)
        self.locks = StripedLocks()
        self.known: TtlCache[str, bool] = TtlCache(EXISTS_CACHE_S, 100_000)

    async def create(self, name: str) -> int:
        """Create a user; AlreadyExists if taken. Returns the creation time (ms).

        The profile is claimed by a SERIAL ``if_absent`` write: of concurrent creations
        of one name, from any number of service processes, exactly one succeeds."""
        now = wall_ms()
        # The claim makes this creation's profile unlike any other's, so an unknown outcome
        # settles by value (the SDK's re-read, and ours below).
        profile = encode_json({"created_at_ms": now, "claim": uuid.uuid4().hex})
        try:
            await self.data.put(name, PROFILE, profile, if_absent=True,
                                durability=Durability.SYNC)
        except ConditionFailed:
            raise AlreadyExists(f"user {name!r} exists already") from None
        except Timeout:
            # Profiles are never overwritten: another profile there means ours was not
            # the one created; none (or the read failing) leaves it unknown.
            current = await self.data.get(name, PROFILE, consistency=Consistency.SERIAL)
            if current is None:
                raise
            if current.value != profile:
                raise AlreadyExists(f"user {name!r} exists already") from None
        await self.data.put(name, SEEN, str(now), consistency=Q)
        return now

    async def require(self, *names: str) -> None:
        """NotFound naming the first user that does not exist."""
        records = await self.data.get_many([(n, PROFILE) for n in names], consistency=Q)
        for name, record in zip(names, records):
            if record is None:
                raise NotFound(f"user {name!r} does not exist")

    async def require_known(self, name: str) -> None:
        """``require`` answered from memory for a user seen to exist before (a post's
        author check costs no round trip); NotFound is never cached."""
        if self.known.get(name) is None:
            await self.require(name)
            self.known.put(name, True)

    async def profile(self, name: str) -> tuple[int, int, int, int]:
        """(created_at_ms, followers, following, tweets); NotFound if there is no such user."""
        profile, counts = await asyncio.gather(
            self.data.get(name, PROFILE, consistency=Q),
            self.counts.get_many([(name, FOLLOWERS_COUNT), (name, FOLLOWING_COUNT),
                                  (name, TWEETS_COUNT)], consistency=Q))
        if profile is None:
            raise NotFound(f"user {name!r} does not exist")
        created = int(json.loads(profile.value).get("created_at_ms", 0))
        # Never below 0 on the way out (a count read mid-race could be, for a moment).
        followers, following, tweets = (max(_count(r), 0) for r in counts)
        return created, followers, following, tweets

    async def set_edge(self, edges: AsyncDataset, owner: str, other: str, present: bool,
                       count_key: bytes, *, cap: int | None = None) -> tuple[bool, int]:
        """Make the edge ``owner -> other`` in ``edges`` present or absent, keeping
        ``owner``'s count of such edges (a counter: only a real change moves it, and no
        change is lost to another process's). Returns (changed, count). Over ``cap`` the
        edge is refused before anything is written."""
        async with self.locks(owner):
            edge, count = await asyncio.gather(
                edges.get(owner, other, consistency=Q),
                self.counts.counter(owner, count_key, consistency=Q))
            if (edge is not None) == present:
                return False, count
            if present and cap is not None and count >= cap:
                raise InvalidRequest(f"{owner!r} already has {count} entries in {edges.name}; "
                                     f"the limit is {cap}")
            if present:
                await edges.put(owner, other, b"", consistency=Q, durability=Durability.SYNC)
            else:
                await edges.delete(owner, other, consistency=Q, durability=Durability.SYNC)
            added = await self.counts.add(owner, count_key, 1 if present else -1,
                                          consistency=Q)
            return True, added.value

    async def timeline_state(self, name: str) -> TimelineState:
        """Activity, rebuild flag and trim floor; NotFound if there is no such user."""
        (profile, seen, rebuild), following, floor = await asyncio.gather(
            self.data.get_many([(name, PROFILE), (name, SEEN), (name, REBUILD)],
                               consistency=Q),
            self.counts.counter(name, FOLLOWING_COUNT, consistency=Q),
            self.floor(name))
        if profile is None:
            raise NotFound(f"user {name!r} does not exist")
        return TimelineState(seen_ms=_count(seen), rebuild_job=_count(rebuild), floor=floor,
                             following=following)

    async def seen_many(self, names: list[str]) -> list[int]:
        """Last-seen times (0 for unknown)."""
        records = await self.data.get_many([(n, SEEN) for n in names], consistency=Q)
        return [_count(r) for r in records]

    async def count_tweet(self, author: str, tweet_id: int, delta: int) -> None:
        """Move ``author``'s tweet count for storing (+1) or deleting (-1) a tweet; the op
        id names the tweet, so a repeated store or delete (fan-out retries, resumed jobs)
        counts once within the counters' dedup window."""
        sign = b"+" if delta > 0 else b"-"
        await self.counts.add(author, TWEETS_COUNT, delta, op_id=sign + id_key(tweet_id),
                              consistency=Q)

    async def touch(self, name: str, now_ms: int) -> None:
        await self.data.put(name, SEEN, str(now_ms), consistency=Q)

    async def set_rebuild(self, name: str, job_id: int) -> None:
        if job_id:
            await self.data.put(name, REBUILD, str(job_id), consistency=Q)
        else:
            await self.data.delete(name, REBUILD, consistency=Q)

    async def floor(self, name: str) -> int:
        """The highest trim floor marker (markers only grow, so the newest is the max)."""
        records = await first_records(self.data, name, 1, start=FLOOR, end=FLOOR + b"\xff",
                                      reverse=True)
        return key_id(records[0].lkey[len(FLOOR):]) if records else 0

    async def raise_floor(self, name: str, floor: int, previous: int) -> None:
        """Record a higher floor, then drop the old marker (the new one is durable first)."""
        await self.data.put(name, FLOOR + id_key(floor), b"", consistency=Q,
                            durability=Durability.SYNC)
        if previous and previous < floor:
            await self.data.delete(name, FLOOR + id_key(previous), consistency=Q)


def _count(record) -> int:
    if record is None:
        return 0
    try:
        return int(record.value)
    except ValueError:
        return 0

