"""The node's copy of the applied metadata: what the data plane reads.

The log's state lives on pysyncobj's thread; the request path reads catalog, token
and limit views on the event loop. Each applied command hands over the items it
changed (immutable values), which are written here into the node's metadata store
(so a restarted node serves its last applied state at once, before it has heard
from anyone) and the views are rebuilt. Item versions are log sequence numbers, so
applying the same change twice (a journal replayed after a restart) is a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from manhattan.metadata.state import Applied
from manhattan.tenancy.items import Item, VersionedItems

log = logging.getLogger("manhattan.metadata")


class Mirror:
    """Writes applied metadata into the node's items and tells the views."""

    def __init__(self, items: VersionedItems, on_change: Callable[[], None]) -> None:
        self.items = items
        self._on_change = on_change
        self.applied_seq = 0

    def applied(self, applied: Applied) -> None:
        """One command applied by the log (event loop)."""
        self.applied_seq = applied.seq
        if applied.changes and self.items.merge(list(applied.changes)):
            self._on_change()

    def restored(self, items: list[Item]) -> None:
        """The log loaded a snapshot: make the copy equal to it."""
        keep = {i.key for i in items}
        version = max((i.version for i in items), default=0)
        self.items.merge(items)
        for item in self.items.snapshot():
            if item.key not in keep and not item.deleted:
                self.items.delete(item.key, max(version, item.version + 1))
        log.info("metadata copy restored from a log snapshot (%d items)", len(items))
        self._on_change()
