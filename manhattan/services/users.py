"""Users: profiles and follower/following/tweet counts.

One partition per user in the ``users`` dataset holds the profile; the counts are
counters in the ``counts`` dataset (kind counter: an increment from any service
process is never lost to another's);
what a home-timeline read needs (last seen, rebuild, trim floor) lives with the
timeline, in the home partition (``home.py``).
"""

from __future__ import annotations

import asyncio
import json
import struct
import uuid

from manhattan.client import (
    AsyncClient, AsyncDataset, ConditionFailed, InvalidRequest, NotFound, Record, Timeout,
)
from manhattan.errors import AlreadyExists
from manhattan.services.caches import TtlCache
from manhattan.services.leases import wall_ms
from manhattan.services.schema import (
    FOLLOWERS_COUNT, FOLLOWING_COUNT, PROFILE, TWEETS_COUNT, Datasets, encode_json, id_key,
)
from manhattan.types import Consistency, Durability

Q = Consistency.QUORUM
# Users are never deleted, so "exists" cannot go stale; entries still expire, to bound
# what a (future) deletion would have to wait for.
EXISTS_CACHE_S = 600.0
# Compare-and-sets of one edge before giving up (each failed one saw another change land).
EDGE_ATTEMPTS = 4
_EDGE_VERSION = struct.Struct(">QI")


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

    async def count_tweet(self, author: str, tweet_id: int, delta: int) -> None:
        """Move ``author``'s tweet count for storing (+1) or deleting (-1) a tweet; the op
        id names the tweet, so a repeated store or delete (fan-out retries, resumed jobs)
        counts once within the counters' dedup window."""
        sign = b"+" if delta > 0 else b"-"
        await self.counts.add(author, TWEETS_COUNT, delta, op_id=sign + id_key(tweet_id),
                              consistency=Q)

    async def set_edge(self, edges: AsyncDataset, owner: str, other: str, present: bool,
                       count_key: bytes, *, cap: int | None = None) -> tuple[bool, int]:
        """Make the edge ``owner -> other`` in ``edges`` present or absent, keeping
        ``owner``'s count of such edges. Returns (changed, count). Over ``cap`` the edge
        is refused before anything is written.

        The edge changes by compare-and-set (``if_absent`` to add, ``if_version`` to
        remove): of two service processes making the same follow at once, exactly one
        changes the edge and counts it; the other finds it done. An added edge holds a
        claim of its own, so a contended write whose outcome the SDK could not settle is
        settled here by value. A removal's count names the edge it removed, so two
        processes removing one edge count it once."""
        async with self.locks(owner):
            edge, count = await asyncio.gather(
                edges.get(owner, other, consistency=Q),
                self.counts.counter(owner, count_key, consistency=Q))
            for _ in range(EDGE_ATTEMPTS):
                if (edge is not None) == present:
                    return False, count
                if present and cap is not None and count >= cap:
                    raise InvalidRequest(f"{owner!r} already has {count} entries in "
                                         f"{edges.name}; the limit is {cap}")
                try:
                    changed = await self._change_edge(edges, owner, other, edge)
                except ConditionFailed as exc:
                    edge = exc.current  # changed meanwhile: look again at what is there
                    continue
                if changed is None:
                    edge = await edges.get(owner, other, consistency=Q)
                    continue
                added = await self.counts.add(owner, count_key, 1 if present else -1,
                                              consistency=Q, op_id=changed)
                return True, added.value
            raise Timeout(f"the edge {owner!r} -> {other!r} in {edges.name} kept changing "
                          f"under {EDGE_ATTEMPTS} attempts; try again")

    @staticmethod
    async def _change_edge(edges: AsyncDataset, owner: str, other: str,
                           edge: Record | None) -> bytes | None:
        """Add the edge (``edge`` None) or remove it (``edge``: the one read). The op id
        that counts the change, or None when another process's change landed instead
        (ConditionFailed: it did so visibly)."""
        if edge is None:
            claim = uuid.uuid4().bytes
            try:
                version = await edges.put(owner, other, claim, if_absent=True,
                                          durability=Durability.SYNC)
            except Timeout:
                # Contended, and the SDK's sealing re-read could not settle it (so no
                # unchosen claim can be chosen any more): whose claim is there decides.
                current = await edges.get(owner, other, consistency=Consistency.SERIAL)
                if current is None or current.value != claim:
                    return None
                version = current.version
            return b"+" + _EDGE_VERSION.pack(version[0], version[1])
        removed = b"-" + _EDGE_VERSION.pack(edge.version[0], edge.version[1])
        try:
            await edges.delete(owner, other, if_version=edge, durability=Durability.SYNC)
        except Timeout:  # contended: gone means removed, by us or beside us (one count)
            current = await edges.get(owner, other, consistency=Consistency.SERIAL)
            if current is not None:
                return None
        return removed


def _count(record) -> int:
    if record is None:
        return 0
    try:
        return int(record.value)
    except ValueError:
        return 0

