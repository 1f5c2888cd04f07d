"""The follow graph: both directions of every edge, counts, and the celebrity set.

``following/<a>`` holds a's followees and ``followers/<b>`` holds b's followers,
so both lists are single-partition scans. Follow writes ``following`` first and
``followers`` second; a retry after a crash in between completes the pair, so
both operations are idempotent. Counts are adjusted only when an edge really
appears or disappears.

An author whose follower count passes the threshold joins the celebrity set
and stays there: their tweets are merged at read instead of pushed. (Leaving
the set would need a back-fill of their recent tweets into every follower's
timeline; we keep it sticky instead.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from manhattan.client import AsyncClient, InvalidRequest
from manhattan.services.schema import (
    CELEBRITIES_KEY, FOLLOWERS_COUNT, FOLLOWING_COUNT, Datasets,
)
from manhattan.services.users import Users
from manhattan.types import Consistency, Durability

Q = Consistency.QUORUM
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class UserPage:
    """One page of a follower/followee list."""

    users: list[str]
    cursor: bytes | None


class Graph:
    """Follow / unfollow and the lists they maintain."""

    def __init__(self, client: AsyncClient, datasets: Datasets, users: Users, *,
                 celebrity_threshold: int, max_following: int, cache_s: float) -> None:
        self.followers = client.dataset(datasets.followers)
        self.following = client.dataset(datasets.following)
        self.celebrity_data = client.dataset(datasets.celebrities)
        self.users = users
        self.celebrity_threshold = celebrity_threshold
        self.max_following = max_following
        self._cache_s = cache_s
        self._celebrities: frozenset[str] = frozenset()
        self._celebrities_at = float("-inf")

    async def follow(self, follower: str, followee: str) -> bool:
        """Make ``follower`` follow ``followee``; False if it already did."""
        if follower == followee:
            raise InvalidRequest(f"{follower!r} cannot follow themselves")
        await self.users.require(follower, followee)
        changed = False
        async with self.users.locks(follower):
            if await self.following.get(follower, followee, consistency=Q) is None:
                _, _, following = await self.users.profile(follower)
                if following >= self.max_following:
                    raise InvalidRequest(
                        f"{follower!r} follows {following} users; the limit is "
                        f"{self.max_following}")
                await self.following.put(follower, followee, b"", consistency=Q,
                                         durability=Durability.SYNC)
                await self.users.data.put(follower, FOLLOWING_COUNT, str(following + 1),
                                          consistency=Q)
                changed = True
        if await self.followers.get(followee, follower, consistency=Q) is None:
            await self.followers.put(followee, follower, b"", consistency=Q,
                                     durability=Durability.SYNC)
            count = await self.users.add_to_count(followee, FOLLOWERS_COUNT, +1)
            if count > self.celebrity_threshold:
                await self.promote(followee)
            changed = True
        return changed

    async def unfollow(self, follower: str, followee: str) -> bool:
        """Stop ``follower`` following ``followee``; False if it did not."""
        if follower == followee:
            raise InvalidRequest(f"{follower!r} cannot unfollow themselves")
        await self.users.require(follower, followee)
        changed = False
        async with self.users.locks(follower):
            if await self.following.get(follower, followee, consistency=Q) is not None:
                await self.following.delete(follower, followee, consistency=Q,
                                            durability=Durability.SYNC)
                _, _, following = await self.users.profile(follower)
                await self.users.data.put(follower, FOLLOWING_COUNT, str(max(0, following - 1)),
                                          consistency=Q)
                changed = True
        if await self.followers.get(followee, follower, consistency=Q) is not None:
            await self.followers.delete(followee, follower, consistency=Q,
                                        durability=Durability.SYNC)
            await self.users.add_to_count(followee, FOLLOWERS_COUNT, -1)
            changed = True
        return changed

    async def follows(self, follower: str, followee: str) -> bool:
        return await self.following.get(follower, followee, consistency=Q) is not None

    async def page(self, direction: str, user: str, *, limit: int, cursor: bytes | None
                   ) -> UserPage:
        """A page of ``followers`` or ``following`` of ``user``, in name order."""
        dataset = self.followers if direction == "followers" else self.following
        result = await dataset.scan_page(user, limit=min(max(limit, 1), MAX_PAGE),
                                         cursor=cursor or None, consistency=Q)
        return UserPage([r.lkey.decode() for r in result.records], result.cursor)

    async def all_following(self, user: str) -> list[str]:
        """Every followee of ``user`` (bounded by ``max_following``)."""
        names: list[str] = []
        async for record in self.following.iter_scan(user, page_size=MAX_PAGE, consistency=Q):
            names.append(record.lkey.decode())
        return names

    async def celebrities(self) -> frozenset[str]:
        """The celebrity set (cached for ``cache_s``)."""
        if time.monotonic() - self._celebrities_at > self._cache_s:
            names = [r.lkey.decode() async for r in self.celebrity_data.iter_scan(
                CELEBRITIES_KEY, page_size=MAX_PAGE, consistency=Q)]
            self._celebrities = frozenset(names)
            self._celebrities_at = time.monotonic()
        return self._celebrities

    async def promote(self, user: str) -> None:
        """Add ``user`` to the celebrity set (sticky)."""
        await self.celebrity_data.put(CELEBRITIES_KEY, user, b"", consistency=Q,
                                      durability=Durability.SYNC)
        self._celebrities = self._celebrities | {user}

