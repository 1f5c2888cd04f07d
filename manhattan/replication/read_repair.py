"""Read repair: replicas that answered a read with an older version get the newest.

The coordinator merges the answers of a read (``newest``, last writer wins) and
hands ``ReadRepair.repair`` what each replica said. Repair of the replicas in the
read's quorum is *blocking* (Cassandra's blocking read repair): it completes before
the read answers, so once a QUORUM read returned a version, a quorum holds it and
no later QUORUM read can return an older one; if it cannot complete in time the
read answers Timeout instead. Replicas outside the quorum get the newest version
in the background (a write at ONE that may itself miss: anti-entropy catches
whatever is left).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from manhattan.cluster.topology import Member
from manhattan.errors import Timeout
from manhattan.storage import Entry, Write
from manhattan.storage.counters import combine
from manhattan.storage.engine import Writer

Key = tuple[bytes, bytes]
SendRepair = Callable[[Member, str, list[Write]], Awaitable[bool]]


def newest(entries: Sequence[Entry | None]) -> Entry | None:
    """The last writer's entry among replicas' answers (counters: their merged state,
    whose version is above every answer that lacks part of it)."""
    return combine(entries)


def stale_writes(keys: Sequence[Key], merged: Sequence[Entry | None],
                 theirs: Sequence[Entry | None]) -> list[Write]:
    """The newest versions a replica that answered ``theirs`` lacks."""
    return [Write(p, l, best) for (p, l), best, their in zip(keys, merged, theirs)
            if best is not None and (their is None or their.version < best.version)]


class ReadRepair:
    """Brings the replicas that answered a read up to the version it returned."""

    def __init__(self, *, node_id: int, engine: Writer, send: SendRepair,
                 spawn: Callable[[Awaitable[object]], None], stats: Counter[str]) -> None:
        self._node_id = node_id
        self._engine = engine
        self._send = send      # a replica write at ONE to one peer (hinted if it fails)
        self._spawn = spawn    # runs the peer writes in the background
        self._stats = stats    # "read_repairs": records repaired, for NodeInfo and metrics

    async def repair(self, dataset: str, keys: Sequence[Key], merged: Sequence[Entry | None],
                     answers: dict[Member, list[Entry | None]], *, others: Sequence[Member] = (),
                     timeout: float) -> None:
        """Bring the replicas that answered (the read's quorum) up to ``merged`` before
        returning (Timeout if one cannot be within ``timeout`` s); the ``others`` of the
        keys' replicas get the newest versions in the background."""
        sends: list[Awaitable[bool]] = []
        newest_writes: dict[Key, Write] = {}
        for member, entries in answers.items():
            stale = stale_writes(keys, merged, entries)
            if not stale:
                continue
            self._stats["read_repairs"] += len(stale)
            newest_writes.update(((w.pkey, w.lkey), w) for w in stale)
            if member.id == self._node_id:
                self._engine.apply(dataset, stale)
            else:
                sends.append(self._send(member, dataset, stale))
        if newest_writes:
            for member in others:
                self._spawn(self._send(member, dataset, list(newest_writes.values())))
        if not sends:
            return
        tasks = [asyncio.ensure_future(send) for send in sends]
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:  # finishes (or is hinted) in the background
            self._spawn(task)
        if pending or not all(task.result() for task in done):
            raise Timeout("read repair of a replica in the read's quorum did not complete in "
                          "time (the read is not answered, so no later read can go back in "
                          "time); retry the read")
