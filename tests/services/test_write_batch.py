"""Group commit at the service (``WriteBatcher``) on a real 3-node cluster: writes in
flight together go out together, a lone write goes at once as a single put, every caller
gets its own write's outcome (a bad record fails only itself), a write never waits past
its timeout, and posts in flight together share their job write."""

from __future__ import annotations

import asyncio

import pytest

from manhattan.client import AsyncClient, Consistency, Durability, InvalidRequest, Unavailable
from manhattan.services.write_batch import WriteBatcher
from tests.services.conftest import fresh_config, running_social

Q = Consistency.QUORUM
TOO_BIG = b"x" * (1024 * 1024 + 1)  # over limits.max_value_bytes: refused by the node


class Recorded:
    """The SDK's dataset, with the calls made through it written down."""

    def __init__(self, data) -> None:
        self.data = data
        self.calls: list[tuple[str, int]] = []

    async def put(self, *args, **kwargs):
        self.calls.append(("put", 1))
        return await self.data.put(*args, **kwargs)

    async def put_many(self, items, **kwargs):
        self.calls.append(("put_many", len(items)))
        return await self.data.put_many(items, **kwargs)


async def _dataset(local, name: str):
    admin = AsyncClient(local.endpoints, token=local.admin_token)
    try:
        tenant = f"wb-{name}"
        token = await admin.admin.create_tenant(tenant)
        await admin.admin.create_dataset(name, tenant=tenant)
    finally:
        await admin.close()
    return AsyncClient(local.endpoints, token=token)


def _batcher(data, timeout: float = 10.0) -> WriteBatcher:
    """SYNC QUORUM, one batch in flight: what the fan-out queue uses."""
    return WriteBatcher(data, consistency=Q, durability=Durability.SYNC, timeout=timeout,
                        max_in_flight=1)


def test_writes_in_flight_together_share_a_batch_and_each_gets_its_version(
        social_cluster, loop_thread) -> None:
    async def scenario():
        client = await _dataset(social_cluster, "wb-share")
        try:
            data = Recorded(client.dataset("wb-share"))
            batcher = _batcher(data)
            lone = await batcher.put("p", "lone", b"alone")
            versions = await asyncio.gather(*(batcher.put(f"p{i % 5}", f"k{i}", b"v%d" % i)
                                              for i in range(40)))
            stored = await client.dataset("wb-share").get_many(
                [(f"p{i % 5}", f"k{i}") for i in range(40)], consistency=Q)
            return lone, versions, stored, data.calls, batcher
        finally:
            await client.close()

    lone, versions, stored, calls, batcher = loop_thread.run(scenario())
    assert calls[0] == ("put", 1) and lone.timestamp > 0  # a lone write: no batch, no wait
    # The first of the 40 went at once; the 39 that came while it was out, together.
    assert calls[1:] == [("put", 1), ("put_many", 39)]
    assert [r.value for r in stored] == [b"v%d" % i for i in range(40)]
    assert all(v.timestamp > lone.timestamp for v in versions)
    assert len({v.timestamp for v in versions}) == 40
    assert (batcher.batches, batcher.writes) == (3, 41)


def test_a_bad_record_fails_only_its_own_write(social_cluster, loop_thread) -> None:
    async def scenario():
        client = await _dataset(social_cluster, "wb-bad")
        try:
            batcher = _batcher(client.dataset("wb-bad"))
            first = asyncio.ensure_future(batcher.put("p", "first", b"1"))
            await asyncio.sleep(0)  # out alone; the next three wait for it together
            outcomes = await asyncio.gather(
                batcher.put("p", "good", b"2"), batcher.put("p", "big", TOO_BIG),
                batcher.put("q", "good", b"3"), return_exceptions=True)
            await first
            stored = await client.dataset("wb-bad").get_many([("p", "good"), ("q", "good")],
                                                             consistency=Q)
            return outcomes, stored
        finally:
            await client.close()

    outcomes, stored = loop_thread.run(scenario())
    assert not isinstance(outcomes[0], BaseException)
    assert isinstance(outcomes[1], InvalidRequest) and "the limit is" in str(outcomes[1])
    assert not isinstance(outcomes[2], BaseException)
    assert [r.value for r in stored] == [b"2", b"3"]


def test_a_write_whose_timeout_ran_out_while_it_waited_is_not_sent(
        social_cluster, loop_thread) -> None:
    class Slow(Recorded):
        async def put(self, *args, **kwargs):
            await asyncio.sleep(0.3)  # a batch ahead that takes longer than the timeout
            return await super().put(*args, **kwargs)

    async def scenario():
        client = await _dataset(social_cluster, "wb-late")
        try:
            data = Slow(client.dataset("wb-late"))
            batcher = _batcher(data, timeout=0.2)
            outcomes = await asyncio.gather(batcher.put("p", "a", b"1"),
                                            batcher.put("p", "b", b"2"),
                                            return_exceptions=True)
            left = await client.dataset("wb-late").get("p", "b", consistency=Q)
            return outcomes, data.calls, left
        finally:
            await client.close()

    outcomes, calls, left = loop_thread.run(scenario())
    assert isinstance(outcomes[1], Unavailable) and "not sent" in str(outcomes[1])
    assert calls == [("put", 1)] and left is None  # the late write never went out


def test_posts_in_flight_together_share_their_job_write(social_cluster, loop_thread) -> None:
    config = fresh_config()
    with running_social(social_cluster, loop_thread, config, workers=False) as social:
        run = loop_thread.run
        run(social.create_user("many"))
        run(social.post("many", "warm the author cache"))
        before = (social.queue.jobs.batches, social.queue.jobs.writes)

        async def post_together():
            return await asyncio.gather(*(social.post("many", f"post {i}") for i in range(20)))
        tweets = run(post_together())
        batches = social.queue.jobs.batches - before[0]
        writes = social.queue.jobs.writes - before[1]
        assert writes == 20 and batches < 20
        for tweet in tweets:
            assert run(social.get_tweet(tweet.id)) == tweet


@pytest.mark.parametrize("bad", [{"max_in_flight": 0}, {"max_batch": 0}])
def test_the_batcher_refuses_settings_that_would_never_send(bad) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        WriteBatcher(object(), consistency=Q, durability=Durability.SYNC, timeout=1.0, **bad)
