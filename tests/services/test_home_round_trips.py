"""A home page costs two round trips: the home partition (state and newest entries, one
scan) with the following list, then one multi-get of the tweets. Counted at the SDK's
transport on a real cluster: every RPC the page sends, grouped into waves (a wave
starts when a request goes out while none is in flight)."""

from __future__ import annotations

from manhattan.services.social import Social
from tests.services.conftest import fresh_config, running_social


class Waves:
    """Wraps a client's ``_attempt`` (one call per RPC sent) to count the RPCs a page
    sends, and their waves (the workers' queue and lease calls are not counted)."""

    def __init__(self, social: Social) -> None:
        self.methods: list[list[str]] = []
        self._in_flight = 0
        client = social.client
        attempt = client._attempt
        background = {social.queue.data.name, social.shard_leases[0].dataset.name}

        async def counted(op, endpoint, deadline):
            if op.dataset in background:
                return await attempt(op, endpoint, deadline)
            if self._in_flight == 0:
                self.methods.append([])
            self.methods[-1].append(op.method)
            self._in_flight += 1
            try:
                return await attempt(op, endpoint, deadline)
            finally:
                self._in_flight -= 1

        client._attempt = counted


def test_a_home_page_is_two_round_trips(social_cluster, loop_thread):
    config = fresh_config(celebrity_threshold=100)
    with running_social(social_cluster, loop_thread, config) as social:
        run = loop_thread.run
        for name in ("reader", "friend", "other"):
            run(social.create_user(name))
        run(social.follow("reader", "friend"))
        run(social.follow("reader", "other"))
        posted = [run(social.post("friend" if i % 2 else "other", f"t{i}")).id
                  for i in range(12)]
        run(social.drain())
        run(social.home_timeline("reader", limit=5))  # the user's existence is now known
        social.tweets.cache.evict(posted)  # hydrated from the cluster, not from memory
        waves = Waves(social)
        first = run(social.home_timeline("reader", limit=5))
        assert [t.id for t in first.tweets] == posted[::-1][:5]
        assert waves.methods == [["Scan", "Scan"], ["MultiGet"]], waves.methods
        # Past the cursor the state is a multi-get beside the entries' scan: still two.
        waves.methods.clear()
        social.tweets.cache.evict(posted)
        second = run(social.home_timeline("reader", limit=5, cursor=first.cursor))
        assert [t.id for t in second.tweets] == posted[::-1][5:10]
        assert len(waves.methods) == 2, waves.methods
        assert sorted(waves.methods[0]) == ["MultiGet", "Scan", "Scan"], waves.methods
        assert waves.methods[1] == ["MultiGet"], waves.methods
        # With the tweets cached (this process stored or read them a moment ago): one.
        waves.methods.clear()
        again = run(social.home_timeline("reader", limit=5, cursor=first.cursor))
        assert again.tweets == second.tweets
        assert len(waves.methods) == 1 and "MultiGet" in waves.methods[0], waves.methods


def test_the_first_read_goes_on_past_deleted_entries_but_never_below_the_floor(
        social_cluster, loop_thread):
    """The state-and-entries scan counts tombstones against its page: a short page that
    has not reached the floor is continued from there, bounded by the floor it read."""
    with running_social(social_cluster, loop_thread, fresh_config(), workers=False) as social:
        run = loop_thread.run
        home = social.home
        run(home.push([("viewer", i, "someone") for i in range(1, 31)]))
        run(home.remove([("viewer", i) for i in range(12, 31)]))  # the 19 newest deleted
        run(home.raise_floor("viewer", 3, 0))  # 1..3 trimmed: the floor is 3
        view = run(home.view("viewer", below=1 << 63, limit=5))
        assert view.state.floor == 3
        assert [i for i, _ in view.entries] == [11, 10, 9, 8, 7]
        deeper = run(home.view("viewer", below=6, limit=5))
        assert [i for i, _ in deeper.entries] == [5, 4]  # stops at the floor
        assert deeper.state == view.state
