"""The social service's short-lived caches answer exactly what a read would, or nothing."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from manhattan.services.caches import RecentIdsCache, TtlCache


@given(all_ids=st.lists(st.integers(1, 10_000), unique=True, max_size=60),
       depth=st.integers(1, 30), below=st.integers(1, 10_001), limit=st.integers(1, 40))
def test_recent_ids_answer_like_a_read_or_not_at_all(all_ids, depth, below, limit) -> None:
    newest_first = sorted(all_ids, reverse=True)
    cached = newest_first[:depth]  # what a read of the newest ``depth`` returns
    cache = RecentIdsCache(ttl_s=60, depth=depth)
    cache.store("u", cached)
    answer = cache.lookup("u", below=below, limit=limit)
    truth = [i for i in newest_first if i < below][:limit]
    # The cache must answer exactly when what it holds decides the question: it holds the
    # whole timeline (fewer than ``depth``), or ``limit`` cached ids lie below ``below``.
    covered = len(cached) < depth or len([i for i in cached if i < below]) >= limit
    if covered:
        assert answer == truth
    else:
        assert answer is None


def test_recent_ids_expire_and_evict() -> None:
    cache = RecentIdsCache(ttl_s=0.05, depth=10)
    cache.store("u", [5, 3])
    assert cache.lookup("u", below=10, limit=5) == [5, 3]
    cache.evict("u")
    assert cache.lookup("u", below=10, limit=5) is None
    cache.store("u", [5, 3])
    time.sleep(0.06)
    assert cache.lookup("u", below=10, limit=5) is None


def test_ttl_cache_is_bounded_least_recently_used_first() -> None:
    cache: TtlCache[int, str] = TtlCache(ttl_s=60, max_entries=2)
    cache.put(1, "a")
    cache.put(2, "b")
    assert cache.get(1) == "a"  # 1 is now the most recently used
    cache.put(3, "c")
    assert cache.get(2) is None and cache.get(1) == "a" and cache.get(3) == "c"
    cache.evict([1])
    assert cache.get(1) is None
    assert (cache.hits, cache.misses) == (3, 2)
