"""The follow graph: both directions of every edge, counts, and the celebrity set.

``following/<a>`` holds a's followees and ``followers/<b>`` holds b's followers,
so both lists are single-partition scans. Follow writes ``following`` first and
``followers`` second; a retry after a crash in between completes the pair, so
both operations are idempotent. Counts are adjusted only when an edge really
appears or disappears, and each edge changes by compare-and-set: of several service
processes making one follow at once, exactly one changes and counts it
(``Users.set_edge``).

An author whose follower count passes the threshold joins the celebrity set
and stays there: their tweets are merged at read instead of pushed. (Leaving
the set would need a back-fill of their recent tweets into every follower's
timeline; we keep it sticky instead.)
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable
from dataclasses import dataclass

from manhattan.client import AsyncClient, InvalidRequest
from manhattan.services.caches import FollowerLists
from manhattan.services.schema import (
    CELEBRITIES_KEY, FOLLOWER_CHANGES, FOLLOWERS_COUNT, FOLLOWING_COUNT, Datasets,
)
from manhattan.services.users import Users
from manhattan.types import Consistency, Durability

Q = Consistency.QUORUM
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class EdgePage:
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
        # Whom a user follows is read with a page's first read, up to this many; past
        # that, asked name by name (0: always asked, as for users who follow more).
        self.scan_following_up_to = MAX_PAGE
        # Fan-out's follower lists, checked against FOLLOWER_CHANGES (see FollowerLists).
        self.follower_lists = FollowerLists()
        self._celebrities: frozenset[str] = frozenset()
        self._celebrities_at = float("-inf")

    async def follow(self, follower: str, followee: str) -> bool:
        """Make ``follower`` follow ``followee``; False if it already did."""
        await self._check_pair(follower, followee, "follow")
        changed, _ = await self.users.set_edge(self.following, follower, followee, True,
                                               FOLLOWING_COUNT, cap=self.max_following)
        added, followers = await self.users.set_edge(self.followers, followee, follower, True,
                                                     FOLLOWERS_COUNT)
        await self._followers_changed(followee)
        if added and followers > self.celebrity_threshold:
            await self.promote(followee)
        # Whoever changed the follower's side made the follow (a call that only completed
        # the other side after a crash, or beside a concurrent one, found it made).
        return changed

    async def unfollow(self, follower: str, followee: str) -> bool:
        """Stop ``follower`` following ``followee``; False if it did not."""
        await self._check_pair(follower, followee, "unfollow")
        changed, _ = await self.users.set_edge(self.following, follower, followee, False,
                                               FOLLOWING_COUNT)
        await self.users.set_edge(self.followers, followee, follower, False, FOLLOWERS_COUNT)
        await self._followers_changed(followee)
        return changed

    async def _followers_changed(self, followee: str) -> None:
        """Invalidate every process's cached follower list of ``followee``, once its
        edge is as wanted. Moved even when the edge was already so: this call may retry
        one whose edge landed and whose counter move did not."""
        self.follower_lists.evict(followee)
        await self.users.counts.add(followee, FOLLOWER_CHANGES, 1, consistency=Q)

    async def _check_pair(self, follower: str, followee: str, verb: str) -> None:
        if follower == followee:
            raise InvalidRequest(f"{follower!r} cannot {verb} themselves")
        await self.users.require(follower, followee)

    async def follows(self, follower: str, followee: str) -> bool:
        return await self.following.get(follower, followee, consistency=Q) is not None

    async def follower_list(self, author: str) -> list[str] | None:
        """Every follower of ``author``, in name order: from the cache while the author's
        follower-changes counter reads as it did when the list was read, else read
        whole and cached. None past ``celebrity_threshold`` followers (read those a page
        at a time: ``followers_after``)."""
        changes = await self.users.counts.counter(author, FOLLOWER_CHANGES, consistency=Q)
        names = self.follower_lists.get(author, changes)
        if names is not None:
            return names
        names = []
        async for record in self.followers.iter_scan(author, page_size=MAX_PAGE,
                                                      consistency=Q):
            names.append(record.lkey.decode())
            if len(names) > self.celebrity_threshold:
                return None
        self.follower_lists.put(author, changes, names)
        return names

    async def followers_after(self, author: str, after: str, limit: int
                              ) -> tuple[list[str], bool]:
        """Up to ``limit`` followers of ``author`` named after ``after``, in name order, and
        whether more may follow (one page read; for lists too long to cache)."""
        page = await self.followers.scan_page(
            author, start=after.encode() + b"\x00" if after else None, limit=limit,
            consistency=Q)
        return [r.lkey.decode() for r in page.records], page.cursor is not None

    async def page(self, direction: str, user: str, *, limit: int, cursor: bytes | None
                   ) -> EdgePage:
        """A page of ``followers`` or ``following`` of ``user``, in name order."""
        dataset = self.followers if direction == "followers" else self.following
        result = await dataset.scan_page(user, limit=min(max(limit, 1), MAX_PAGE),
                                         cursor=cursor or None, consistency=Q)
        return EdgePage([r.lkey.decode() for r in result.records], result.cursor)

    async def followed_by(self, user: str) -> "Followed":
        """A view of whom ``user`` follows, for one request: the first page of the list
        (the whole list, for all but users following over a page of accounts)."""
        if self.scan_following_up_to <= 0:
            return Followed(self, user, [], complete=False)
        page = await self.following.scan_page(user, limit=self.scan_following_up_to,
                                               consistency=Q)
        return Followed(self, user, [r.lkey.decode() for r in page.records],
                        complete=page.cursor is None)

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



def names_after(names: list[str], after: str, limit: int) -> tuple[list[str], bool]:
    """Up to ``limit`` of the sorted ``names`` after ``after``, and whether more follow."""
    start = bisect.bisect_right(names, after) if after else 0
    return names[start:start + limit], start + limit < len(names)


class Followed:
    """Whom one user follows (and the user), learned as cheaply as a request needs.

    Up to a page of followees (1,000), the one scan read with the request's first
    read answers every question. Past that, the names of the first page are known,
    others (a page's handful of authors, the celebrities) are looked up by point reads,
    and the whole list is scanned only when a read goes past the stored timeline."""

    def __init__(self, graph: Graph, user: str, first_page: list[str], *,
                 complete: bool) -> None:
        self.graph = graph
        self.user = user
        self._known: dict[str, bool] = {user: True, **dict.fromkeys(first_page, True)}
        self._everyone: frozenset[str] | None = (
            frozenset([user, *first_page]) if complete else None)

    async def everyone(self) -> frozenset[str]:
        if self._everyone is None:
            self._everyone = frozenset([self.user, *await self.graph.all_following(self.user)])
        return self._everyone

    async def among(self, names: Iterable[str]) -> set[str]:
        """The followed ones among ``names`` (the user counts as followed)."""
        names = set(names)
        if self._everyone is not None:
            return names & self._everyone
        unknown = sorted(n for n in names if n not in self._known)
        if unknown:
            records = await self.graph.following.get_many(
                [(self.user, n) for n in unknown], consistency=Q)
            self._known.update((n, r is not None) for n, r in zip(unknown, records))
        return {n for n in names if self._known[n]}
