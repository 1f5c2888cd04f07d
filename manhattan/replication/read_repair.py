"""Read repair: replicas that answered a read with an older version get the newest.

The coordinator merges the answers of a read (``newest``, last writer wins) and
hands ``ReadRepair.repair`` what each replica said: this node's own stale copy is
fixed in place before the read answers, a peer's in the background (a write at
ONE that may itself miss; anti-entropy catches whatever is left).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from manhattan.cluster.topology import Member
from manhattan.storage import Entry, Write
from manhattan.storage.engine import Writer

Key = tuple[bytes, bytes]
SendRepair = Callable[[Member, str, list[Write]], Awaitable[bool]]


def newest(entries: Sequence[Entry | None]) -> Entry | None:
    """The last writer's entry among replicas' answers."""
    best: Entry | None = None
    for entry in entries:
        if entry is not None and (best is None or entry.version > best.version):
            best = entry
    return best


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

    def repair(self, dataset: str, keys: Sequence[Key], merged: Sequence[Entry | None],
               answers: dict[Member, list[Entry | None]]) -> None:
        """Send the newest version to replicas that answered with an older one."""
        for member, entries in answers.items():
            stale = stale_writes(keys, merged, entries)
            if not stale:
                continue
            self._stats["read_repairs"] += len(stale)
            if member.id == self._node_id:
                self._engine.apply(dataset, stale)
            else:
                self._spawn(self._send(member, dataset, stale))
