"""Home timelines, the read side: stored entries + celebrities, merged by id.

A page is the newest ``limit`` tweets below the cursor from three kinds of
source, merged by id descending and hydrated with one multi-get:

* the stored timeline, newest first, down to the trim floor and at most
  ``cap`` entries deep (entries of authors no longer followed are skipped);
* the own timelines of followed celebrities (never pushed, merged here);
* below the stored part (past the floor or the cap, or for a user whose
  timeline is being rebuilt): the own timelines of everyone followed, so a
  feed does not end where the stored timeline does.

Each source yields at most the ``need`` newest ids below the cursor, so the
first ``need`` of their union are exactly the page. The cursor carries the id
to continue below and how many stored entries were consumed.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from manhattan.client import InvalidRequest
from manhattan.services.config import SocialConfig
from manhattan.services.graph import Graph
from manhattan.services.home import HomeTimelines
from manhattan.services.leases import wall_ms
from manhattan.services.schema import TOP
from manhattan.services.types import TimelinePage, Tweet
from manhattan.services.tweets import Tweets
from manhattan.services.users import TimelineState, Users

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
        state = await self.users.timeline_state(user)
        rebuilding = await self._note_activity(user, state)
        followed = self.graph.followed_by(user, state.following)
        celebrities = await followed.among(await self.graph.celebrities() - {user})
        tweets: list[Tweet] = []
        for _ in range(MAX_ROUNDS):
            need = limit - len(tweets)
            if need <= 0 or below == 0:
                break
            # The stored entries and the celebrities' newest, read at once.
            part, *pulled = await asyncio.gather(
                self._rebuilding_part(below) if rebuilding
                else self._stored_part(user, state.floor, below, rank, need),
                *(self.tweets.recent_ids_cached(c, below=below, limit=need)
                  for c in celebrities))
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

    async def _note_activity(self, user: str, state: TimelineState) -> bool:
        """Record the visit; start a rebuild for a user back from inactivity. Whether the
        stored timeline is being rebuilt (and must not be used)."""
        horizon_ms = int(self.config.inactive_after_s * 1000)
        now = wall_ms()
        if state.rebuild_job:
            return True
        if now - state.seen_ms > horizon_ms:
            await self.start_rebuild(user)
            self.rebuilds_started += 1
            return True
        if now - state.seen_ms > horizon_ms // 20:
            await self.users.touch(user, now)
        return False

    @staticmethod
    async def _rebuilding_part(below: int) -> StoredPart:
        """A timeline being rebuilt is not used: everything comes from the followees."""
        return StoredPart([], cutoff=-1, deep_top=below)

    async def _stored_part(self, user: str, floor: int, below: int, rank: int, need: int
                           ) -> StoredPart:
        """The stored entries this round may use, and where the rest must come from."""
        cap = self.config.timeline_cap
        if rank >= cap or below <= floor + 1:
            return StoredPart([], cutoff=-1, deep_top=_deep(below))
        take = min(need, cap - rank)
        entries = await self.home.newest(user, below=below, floor=floor, limit=take)
        if len(entries) < take:  # reached the floor: older ones come from followees
            return StoredPart(entries, cutoff=-1, deep_top=_deep(min(below, floor + 1)))
        if rank + take >= cap:  # reached the cap: likewise below the last entry
            return StoredPart(entries, cutoff=-1, deep_top=entries[-1][0], capped=True)
        # More stored entries below: this round stops at the last one read.
        return StoredPart(entries, cutoff=entries[-1][0], deep_top=None)
