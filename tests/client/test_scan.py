"""Range scans inside one pkey: order, bounds, direction, limits and cursor pagination."""

from __future__ import annotations

import pytest

from manhattan.client import Delete, Put

# lkeys chosen to probe byte order: empty, NUL, prefixes, high bytes
EDGE_LKEYS = [b"", b"\x00", b"\x00\x00", b"a", b"a\x00", b"aa", b"ab", b"b", b"\x7f", b"\xff",
              b"\xff\xff"]
# neighbouring pkeys whose records must never leak into a scan of PKEY
PKEY = b"user"
NEIGHBOURS = [b"use", b"userr", b"user\x00", b"usex", b"v", b"u"]


@pytest.fixture
def ds(new_tenant):
    """A dataset with PKEY holding EDGE_LKEYS and neighbouring pkeys holding the same lkeys."""
    t = new_tenant()
    with t.client() as client:
        dataset = client.dataset(t.dataset)
        dataset.put_many([Put(PKEY, lk, b"v" + lk) for lk in EDGE_LKEYS])
        dataset.put_many([Put(p, lk, b"other") for p in NEIGHBOURS for lk in EDGE_LKEYS])
        yield dataset


def lkeys(records) -> list[bytes]:
    return [r.lkey for r in records]


def test_scan_returns_records_of_one_pkey_in_byte_order(ds) -> None:
    records = ds.scan(PKEY, limit=1000)
    assert lkeys(records) == sorted(EDGE_LKEYS)
    assert all(r.pkey == PKEY for r in records)
    assert [r.value for r in records] == [b"v" + lk for lk in sorted(EDGE_LKEYS)]


def test_reverse_scan_returns_descending_order(ds) -> None:
    assert lkeys(ds.scan(PKEY, reverse=True, limit=1000)) == sorted(EDGE_LKEYS, reverse=True)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("start, end", [
    (b"a", b"b"), (b"", b"a"), (b"\x00", None), (None, b"\x00"), (b"a\x00", b"ab"),
    (b"aa", b"aa"), (b"b", b"a"), (b"\xff", None), (None, b""), (b"zz", None),
])
def test_start_is_inclusive_and_end_is_exclusive(ds, start, end, reverse) -> None:
    expected = sorted(
        (lk for lk in EDGE_LKEYS
         if (start is None or lk >= start) and (end is None or lk < end)),
        reverse=reverse,
    )
    assert lkeys(ds.scan(PKEY, start=start, end=end, reverse=reverse, limit=1000)) == expected


@pytest.mark.parametrize("reverse", [False, True])
def test_limit_returns_the_first_records_in_scan_direction(ds, reverse) -> None:
    ordered = sorted(EDGE_LKEYS, reverse=reverse)
    for limit in (1, 2, 5, len(EDGE_LKEYS), len(EDGE_LKEYS) + 5):
        assert lkeys(ds.scan(PKEY, limit=limit, reverse=reverse)) == ordered[:limit]
        page = ds.scan_page(PKEY, limit=limit, reverse=reverse)
        assert lkeys(page.records) == ordered[:limit]
        if limit > len(EDGE_LKEYS):
            assert page.cursor is None


def test_scan_of_pkey_without_records_is_empty(ds) -> None:
    assert ds.scan(b"nobody") == []
    page = ds.scan_page(b"nobody")
    assert page.records == [] and page.cursor is None


def test_deleted_records_are_skipped_by_scans(ds) -> None:
    ds.put_many([Delete(PKEY, b"a"), Delete(PKEY, b"\xff")])
    remaining = sorted(set(EDGE_LKEYS) - {b"a", b"\xff"})
    assert lkeys(ds.scan(PKEY, limit=1000)) == remaining
    assert lkeys(ds.scan(PKEY, limit=1000, reverse=True)) == remaining[::-1]


def paginate(ds, pkey, *, page_size, reverse=False, start=None, end=None):
    """Every record via scan_page and cursors; also the number of pages."""
    records, cursor, pages = [], None, 0
    while True:
        page = ds.scan_page(pkey, start=start, end=end, limit=page_size, reverse=reverse,
                            cursor=cursor)
        pages += 1
        assert len(page.records) <= page_size
        records.extend(page.records)
        if page.cursor is None:
            return records, pages
        assert pages < 10_000, "pagination does not terminate"
        cursor = page.cursor


@pytest.fixture
def big(new_tenant):
    """A dataset with 600 records under one pkey, plus records under other pkeys."""
    t = new_tenant()
    with t.client() as client:
        dataset = client.dataset(t.dataset)
        dataset.put_many([Put(b"big", b"%05d" % i, b"%d" % i) for i in range(600)])
        dataset.put_many([Put(b"bi", b"%05d" % i, b"x") for i in range(0, 600, 7)])
        dataset.put_many([Put(b"big\x00", b"%05d" % i, b"x") for i in range(0, 600, 11)])
        yield dataset


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("page_size", [1, 7, 100, 599, 600, 601])
def test_cursor_pagination_equals_a_full_scan(big, reverse, page_size) -> None:
    full = big.scan(b"big", reverse=reverse, limit=10_000)
    assert len(full) == 600
    assert lkeys(full) == sorted((b"%05d" % i for i in range(600)), reverse=reverse)
    paged, pages = paginate(big, b"big", page_size=page_size, reverse=reverse)
    assert paged == full
    assert pages >= -(-600 // page_size)
    if page_size == 7:
        assert list(big.iter_scan(b"big", reverse=reverse, page_size=page_size)) == full


@pytest.mark.parametrize("reverse", [False, True])
def test_cursor_pagination_respects_bounds(big, reverse) -> None:
    start, end = b"00123", b"00456"
    expected = sorted((b"%05d" % i for i in range(123, 456)), reverse=reverse)
    paged, _ = paginate(big, b"big", page_size=50, reverse=reverse, start=start, end=end)
    assert lkeys(paged) == expected
    assert all(r.pkey == b"big" for r in paged)


def paginate_from(ds, cursor):
    records, pages = [], 0
    while cursor is not None:
        page = ds.scan_page(b"big", limit=100, cursor=cursor)
        records.extend(page.records)
        cursor, pages = page.cursor, pages + 1
    return records, pages


def test_pagination_skips_records_deleted_between_pages(big) -> None:
    first = big.scan_page(b"big", limit=100)
    big.put_many([Delete(b"big", b"%05d" % i) for i in range(100, 200)])
    rest, _ = paginate_from(big, first.cursor)
    assert lkeys(first.records) + lkeys(rest) == (
        [b"%05d" % i for i in range(100)] + [b"%05d" % i for i in range(200, 600)]
    )


def test_scans_never_return_records_of_other_pkeys(big) -> None:
    for pkey, count in ((b"big", 600), (b"bi", len(range(0, 600, 7))),
                        (b"big\x00", len(range(0, 600, 11)))):
        for reverse in (False, True):
            records = big.scan(pkey, limit=10_000, reverse=reverse)
            assert len(records) == count
            assert {r.pkey for r in records} == {pkey}
    assert big.scan(b"b", limit=10_000) == []
    assert big.scan(b"big\x00\x00", limit=10_000) == []


MiB = 1024 * 1024


def test_pages_of_large_values_are_cut_to_fit_one_reply(new_tenant) -> None:
    # 70 values of 1 MiB: a default page (100 records) would be a 70 MiB reply, over the
    # 64 MiB gRPC message cap; the node cuts pages by bytes and hands out a cursor instead
    t = new_tenant()
    with t.client(timeout=30.0) as client:
        ds = client.dataset(t.dataset)
        for first in range(0, 70, 10):
            ds.put_many([(b"blobs", b"%03d" % i, bytes([i]) * MiB)
                         for i in range(first, first + 10)])
        page = ds.scan_page(b"blobs")
        assert 1 <= len(page.records) <= 16 and page.cursor is not None
        for reverse in (False, True):
            order = sorted(range(70), reverse=reverse)
            records = list(ds.iter_scan(b"blobs", reverse=reverse))
            assert lkeys(records) == [b"%03d" % i for i in order]
            assert all(r.value == bytes([i]) * MiB for r, i in zip(records, order))
            assert lkeys(ds.scan(b"blobs", limit=1000, reverse=reverse)) == lkeys(records)
        # a page stops at the byte budget but never at zero records
        bounded = ds.scan_page(b"blobs", start=b"050", end=b"053", limit=10)
        assert lkeys(bounded.records) == [b"050", b"051", b"052"] and bounded.cursor is None
