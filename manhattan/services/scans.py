"""Reading the first N records of a range, whatever the pages look like.

A scan page may hold fewer records than asked and still have a cursor: the
node skips tombstones and counts them against the page, and a QUORUM scan
merges replicas' pages. "Fewer than asked" therefore never means "the end";
only a missing cursor does.
"""

from __future__ import annotations

from manhattan.client import AsyncDataset, Record
from manhattan.types import Consistency


async def first_records(dataset: AsyncDataset, pkey: str | bytes, limit: int, *,
                        start: bytes | None = None, end: bytes | None = None,
                        reverse: bool = False,
                        consistency: Consistency = Consistency.QUORUM) -> list[Record]:
    """Up to ``limit`` live records of ``pkey`` in [start, end), in order."""
    records: list[Record] = []
    cursor: bytes | None = None
    while len(records) < limit:
        page = await dataset.scan_page(pkey, start=start, end=end, limit=limit - len(records),
                                       reverse=reverse, cursor=cursor, consistency=consistency)
        records += page.records
        if page.cursor is None:
            break
        cursor = page.cursor
    return records[:limit]
