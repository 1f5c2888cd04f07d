"""Home timelines, the read side: stored entries + celebrities, merged by id.

A page is the newest ``limit`` tweets below the cursor from three kinds of
source, merged by id descending and hydrated with one multi-get:

* the stored timeline, newest first, down to the trim floor and at most
  ``cap`` entries deep (entries of authors no longer followed are skipped);
* the own timelines of followed celebrities (never pushed, merged here);
* below the stored part (past the floor or the cap, or for a user whose
  timeline is being rebuilt): the own timelines of everyone followed, so a
  feed does not end where the stored timeline does. A round that read every
  stored entry above the floor pulls from below the last one it read.

Each source yields at most the ``need`` newest ids below the cursor, so the
first ``need`` of their union are exactly the page. The cursor carries the id
to continue below and how many stored entries were consumed.

A page costs two round trips: the home partition's state and newest entries (one
scan, ``HomeTimelines.view``) sent with the following list; then one multi-get of
the tweets. Celebrities' newest ids and tweets seen a moment ago come from caches;
a round more is needed only when entries drop out (unfollowed authors, deleted
tweets) or the page reaches past the stored part.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from manhattan.client import InvalidRequest
from manhattan.services.config import SocialConfig
from manhattan.services.graph import Followed, Graph
from manhattan.services.home import HomeTimelines, HomeView, TimelineState
from manhattan.services.leases import wall_ms
from manhattan.services.schema import TOP
from manhattan.services.types import TimelinePage, Tweet
from manhattan.services.tweets import Tweets
from manhattan.services.users import Users

MAX_ROUNDS = 8
_CURSOR = struct.Struct(">QI")


@dataclass(frozen=True, slots=True)
class StoredPart:
    """One round's stored entries (id, author), the lowest id the round may emit
    (``cutoff``), and below which id the followees' own timelines take over
    (``deep_top``; None: not this round)."""

    entries: list[tuple[int, str]]
    cutoff: int
    deep_top: int | None
    capped: bool = False


def _deep(top: int) -> int | None:
    """Where the followees' own timelines take over, or None when nothing can be below
    ``top``: ids start at 1, so a never-trimmed timeline (floor 0) that ran out of
    stored entries is complete and costs no scan per followee."""
    return top if top > 1 else None


def encode_cursor(below: int, rank: int) -> bytes:
    return _CURSOR.pack(below, rank)


def decode_cursor(cursor: bytes) -> tuple[int, int]:
    if not cursor:
        return TOP, 0
    if len(cursor) != _CURSOR.size:
        raise InvalidRequest("cursor is not one this service returned")
    below, rank = _CURSOR.unpack(cursor)
    return below, rank


class HomeReader:
    """Builds home-timeline pages."""

    def __init__(self, users: Users, graph: Graph, tweets: Tweets, home: HomeTimelines,
                 config: SocialConfig,
                 start_rebuild: Callable[[str], Awaitable[None]]) -> None:
        self.users = users
        self.graph = graph
        self.tweets = tweets
        self.home = home
        self.config = config
        self.start_rebuild = start_rebuild
        self.rebuilds_started = 0

    async def page(self, user: str, *, limit: int, cursor: bytes) -> TimelinePage:
        below, rank = decode_cursor(cursor)
        cap = self.config.timeline_cap
        # One round trip for everything but the hydration: the home partition's state and
        # newest entries (one scan), whom the user follows, the celebrities (cached) and
        # the user's existence (cached once seen).
        view, followed, all_celebrities, _ = await asyncio.gather(
            self.home.view(user, below=below, limit=min(limit, cap - rank) if rank < cap else 0),
            self.graph.followed_by(user), self.graph.celebrities(),
            self.users.require_known(user))
        rebuilding, touch = await self._note_activity(user, view.state)
        try:
            celebrities = await followed.among(all_celebrities - {user})
            return await self._merge(user, view, followed, celebrities, rebuilding, below,
                                     rank, limit)
        finally:
            if touch is not None:
                await touch

    async def _merge(self, user: str, view: HomeView, followed: Followed,
                     celebrities: set[str], rebuilding: bool, below: int, rank: int,
                     limit: int) -> TimelinePage:
        """The page: rounds of stored entries and pulled ids merged, each hydrated with
        one multi-get (one round unless entries drop out: unfollowed, deleted)."""
        floor = view.state.floor
        prefetched: list[tuple[int, str]] | None = view.entries
        tweets: list[Tweet] = []
        for _ in range(MAX_ROUNDS):
            need = limit - len(tweets)
            if need <= 0 or below == 0:
                break
            # The stored entries and the celebrities' newest, read at once.
            part, *pulled = await asyncio.gather(
                self._rebuilding_part(below) if rebuilding
                else self._stored_part(user, floor, below, rank, need, prefetched),
                *(self.tweets.recent_ids_cached(c, below=below, limit=need)
                  for c in celebrities))
            prefetched = None  # read for the first round only
            if part.deep_top is not None:
                pulled += await asyncio.gather(*(
                    self.tweets.recent_ids(a, below=part.deep_top, above=-1, limit=need)
                    for a in await followed.everyone()))
            still_followed = await followed.among(author for _, author in part.entries)
            candidates = {i for i, author in part.entries if author in still_followed}
            candidates.update(*pulled)
            chosen = sorted((i for i in candidates if i >= part.cutoff), reverse=True)[:need]
            found = await self.tweets.get_many(chosen)  # deleted tweets drop out here
            tweets += [found[i] for i in chosen if i in found]
            if len(chosen) == need:
                below = chosen[-1]
            elif part.cutoff >= 0:
                below = part.cutoff
            else:
                below = 0  # every source is exhausted
            rank = (self.config.timeline_cap if part.capped
                    else rank + sum(1 for i, _ in part.entries if i >= below))
        return TimelinePage(tweets, encode_cursor(below, rank) if below else None, rebuilding)

    async def _note_activity(self, user: str, state: TimelineState
                             ) -> tuple[bool, asyncio.Future[None] | None]:
        """Record the visit; start a rebuild for a user back from inactivity. Whether the
        stored timeline is being rebuilt (and must not be used), and the visit's write
        when one is due (it runs alongside the page; the caller awaits it)."""
        horizon_ms = int(self.config.inactive_after_s * 1000)
        now = wall_ms()
        if state.rebuild_job:
            return True, None
        # Never recorded (0) counts as active, as for fan-out: the visit is recorded.
        if state.seen_ms and now - state.seen_ms > horizon_ms:
            await self.start_rebuild(user)
            self.rebuilds_started += 1
            return True, None
        if now - state.seen_ms > horizon_ms // 20:
            return False, asyncio.ensure_future(self.home.touch(user, now))
        return False, None

    @staticmethod
    async def _rebuilding_part(below: int) -> StoredPart:
        """A timeline being rebuilt is not used: everything comes from the followees."""
        return StoredPart([], cutoff=-1, deep_top=below)

    async def _stored_part(self, user: str, floor: int, below: int, rank: int, need: int,
                           prefetched: list[tuple[int, str]] | None = None) -> StoredPart:
        """The stored entries this round may use, and where the rest must come from
        (``prefetched``: this round's entries, read with the state)."""
        cap = self.config.timeline_cap
        if rank >= cap or below <= floor + 1:
            return StoredPart([], cutoff=-1, deep_top=_deep(below))
        take = min(need, cap - rank)
        entries = (prefetched[:take] if prefetched is not None
                   else await self.home.newest(user, below=below, floor=floor, limit=take))
        if len(entries) < take:
            # Every stored entry above the floor was read: older ones come from the
            # followees, from below the last one read, not only from below the floor (a
            # floor that lags its trim must not skip what the trim removed). Never
            # trimmed (floor 0): the stored timeline is complete.
            last = min(below, entries[-1][0]) if entries else below
            return StoredPart(entries, cutoff=-1, deep_top=_deep(last) if floor else None)
        if rank + take >= cap:  # reached the cap: likewise below the last entry
            return StoredPart(entries, cutoff=-1, deep_top=entries[-1][0], capped=True)
        # More stored entries below: this round stops at the last one read.
        return StoredPart(entries, cutoff=entries[-1][0], deep_top=None)
