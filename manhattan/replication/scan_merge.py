"""Merging replicas' pages of one scan by last writer wins (counters: merged).

Each replica answers a page of raw entries (tombstones and expired values
included, so a delete on one replica hides the value on another). The merged
page stops where the shortest full page stopped: past that point some replica
has not spoken yet, so nothing beyond it can be returned as settled.
"""

from __future__ import annotations

from collections.abc import Sequence

from manhattan.storage import Entry, Record, ScanPage, Write
from manhattan.storage.counters import resolve
from manhattan.storage.keys import encode_cursor

# One replica's answer: its raw entries, and whether it has more past the last one.
ReplicaPage = tuple[list[Write], bool]


def merge_entries(pages: Sequence[ReplicaPage], reverse: bool
                  ) -> tuple[dict[bytes, Entry], bytes | None]:
    """The newest entry of every lkey settled by all pages (tombstones included), and the
    cut: the last lkey where the shortest full page stopped (None: every page is whole)."""
    merged: dict[bytes, Entry] = {}
    cut: bytes | None = None
    for writes, more in pages:
        for write in writes:
            current = merged.get(write.lkey)
            merged[write.lkey] = write.entry if current is None else (
                resolve(current, write.entry) or current)
        if more and writes:
            last = writes[-1].lkey
            if cut is None or (last > cut if reverse else last < cut):
                cut = last
    if cut is not None:
        merged = {k: e for k, e in merged.items() if (k >= cut if reverse else k <= cut)}
    return merged, cut


def merge_pages(pkey: bytes, pages: Sequence[ReplicaPage], reverse: bool,
                now_ms: int) -> ScanPage:
    """LWW-merge replicas' raw pages; stop where the shortest full page stopped."""
    merged, cut = merge_entries(pages, reverse)
    lkeys = sorted(merged, reverse=reverse)
    records = [Record(pkey, k, merged[k].value, merged[k].version, merged[k].expires_at_ms)
               for k in lkeys if merged[k].visible_at(now_ms)]
    return ScanPage(records, encode_cursor(cut) if cut is not None else None)
