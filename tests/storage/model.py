"""A plain-Python model of the storage Engine, for the real engine to be held against.

Dicts instead of RocksDB and no key layout, so that its semantics can be read
off in a minute: last-writer-wins on ``Version`` (an incoming write replaces the
stored one only if strictly newer), tombstones, TTL visibility through an
injectable clock, and scans that page with a cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from manhattan.hlc import physical_ms
from manhattan.storage import DEFAULT_SCAN_LIMIT, UnknownDataset
from manhattan.storage.records import Entry, Record, ScanPage, Write

_CURSOR = b"model:"


class ModelEngine:
    """The Engine protocol over dicts; every operation is obviously correct or it is a bug."""

    def __init__(self, now_ms: Callable[[], int] = lambda: 0) -> None:
        self._now_ms = now_ms
        self._data: dict[str, dict[tuple[bytes, bytes], Entry]] = {}

    # -- datasets ---------------------------------------------------------

    def create_dataset(self, name: str) -> None:
        """Create the dataset; a no-op when it exists."""
        self._data.setdefault(name, {})

    def drop_dataset(self, name: str) -> None:
        """Drop the dataset and every record in it."""
        self._data.pop(name, None)

    def datasets(self) -> list[str]:
        """Names of the datasets, sorted."""
        return sorted(self._data)

    def _dataset(self, name: str) -> dict[tuple[bytes, bytes], Entry]:
        try:
            return self._data[name]
        except KeyError:
            raise UnknownDataset(name) from None

    # -- reads ------------------------------------------------------------

    def get_entry(self, dataset: str, pkey: bytes, lkey: bytes) -> Entry | None:
        """The stored version, tombstones and expired values included."""
        return self._dataset(dataset).get((pkey, lkey))

    def get(self, dataset: str, pkey: bytes, lkey: bytes) -> Record | None:
        """The live record, or None when absent, deleted or expired."""
        entry = self.get_entry(dataset, pkey, lkey)
        if entry is None or not _visible(entry, self._now_ms()):
            return None
        return Record(pkey, lkey, entry.value, entry.version, entry.expires_at_ms)

    def scan(
        self,
        dataset: str,
        pkey: bytes,
        *,
        start: bytes | None = None,
        end: bytes | None = None,
        limit: int = DEFAULT_SCAN_LIMIT,
        reverse: bool = False,
        cursor: bytes | None = None,
    ) -> ScanPage:
        """Live records of ``pkey`` with start <= lkey < end, sorted by lkey.

        A page holding ``limit`` records carries a cursor that resumes strictly
        after (before, when reversed) its last lkey; a shorter page ends the scan.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        now = self._now_ms()
        lkeys = sorted(
            lkey
            for (p, lkey), entry in self._dataset(dataset).items()
            if p == pkey
            and (start is None or lkey >= start)
            and (end is None or lkey < end)
            and _visible(entry, now)
        )
        if reverse:
            lkeys.reverse()
        if cursor is not None:
            if not cursor.startswith(_CURSOR):
                raise ValueError("cursor is malformed")
            after = cursor[len(_CURSOR):]
            lkeys = [k for k in lkeys if (k < after if reverse else k > after)]
        page = lkeys[:limit]
        entries = self._data[dataset]
        records = [
            Record(pkey, k, entries[pkey, k].value, entries[pkey, k].version,
                   entries[pkey, k].expires_at_ms)
            for k in page
        ]
        next_cursor = _CURSOR + page[-1] if len(page) == limit else None
        return ScanPage(records, next_cursor)

    # -- writes -----------------------------------------------------------

    def apply(self, dataset: str, writes: Sequence[Write], *, sync: bool = False) -> list[bool]:
        """Apply each write only if strictly newer than what is stored (earlier
        writes of the same batch included); per write, whether it was applied."""
        entries = self._dataset(dataset)
        applied = []
        for write in writes:
            key = (write.pkey, write.lkey)
            current = entries.get(key)
            if current is not None and write.entry.version <= current.version:
                applied.append(False)
                continue
            entries[key] = write.entry
            applied.append(True)
        return applied

    def purge(self, grace_ms: int, budget: int = 10_000) -> int:
        """Expired values become tombstones, tombstones older than ``grace_ms`` go.

        The model always sweeps everything: ``budget`` only bounds how much work
        a real engine does per call, and callers of the model pass a large one.
        """
        now = self._now_ms()
        changed = 0
        for entries in self._data.values():
            for key, entry in list(entries.items()):
                if entry.tombstone:
                    if physical_ms(entry.version.timestamp) + grace_ms < now:
                        del entries[key]
                        changed += 1
                elif entry.expires_at_ms and entry.expires_at_ms <= now:
                    entries[key] = Entry(entry.version, b"", entry.expires_at_ms, tombstone=True)
                    changed += 1
        return changed

    # -- durability and lifecycle -----------------------------------------

    def sync(self) -> None:
        """Nothing to make durable."""

    def close(self) -> None:
        """Nothing to release."""


def _visible(entry: Entry, now_ms: int) -> bool:
    # Spelled out here rather than calling Entry.visible_at, so that a bug in
    # the production rule shows up as a divergence instead of being shared.
    return not entry.tombstone and (entry.expires_at_ms == 0 or entry.expires_at_ms > now_ms)
