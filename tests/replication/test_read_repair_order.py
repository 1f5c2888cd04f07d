"""The order blocking read repair promises, on a real engine: the read is answered only
after every stale replica of its quorum acknowledged the newest version, and not at
all (Timeout) when one cannot. The replica write itself is the coordinator's send
function; here it is a peer that answers late or fails, to pin down the ordering
(tests/replication/test_blocking_read_repair.py shows the promise on real nodes)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from manhattan.cluster.topology import Member
from manhattan.errors import Timeout
from manhattan.replication.read_repair import ReadRepair
from manhattan.storage import Entry, Version, Write

KEY = (b"p", b"l")
OLD = Entry(Version(1 << 20, 2), b"old", 0, False)
NEW = Entry(Version(2 << 20, 1), b"new", 0, False)


def repairer(engine, send, spawned):
    return ReadRepair(node_id=1, engine=engine, send=send, stats=Counter(),
                      spawn=lambda coro: spawned.append(asyncio.ensure_future(coro)))


def test_the_read_waits_for_the_quorum_replica_and_the_others_are_repaired_behind(engine):
    me, peer, other = (Member(i, f"127.0.0.1:{7000 + i}") for i in (1, 2, 3))
    landed: list[tuple[int, list[Write]]] = []
    release = asyncio.Event()

    async def send(member, dataset, writes):
        if member.id == peer.id:
            await release.wait()  # the quorum's stale replica answers late
        landed.append((member.id, writes))
        return True

    async def scenario():
        spawned: list[asyncio.Future] = []
        engine.apply("ds", [Write(*KEY, OLD)])
        repair = asyncio.ensure_future(repairer(engine, send, spawned).repair(
            "ds", [KEY], [NEW], {me: [OLD], peer: [OLD]}, others=[other], timeout=5))
        await asyncio.sleep(0.2)
        assert not repair.done(), "the read answered before its quorum was repaired"
        assert engine.get_entry("ds", *KEY).value == b"new"  # this node's own copy at once
        release.set()
        await repair
        assert (peer.id, [Write(*KEY, NEW)]) in landed
        await asyncio.gather(*spawned)
        assert (other.id, [Write(*KEY, NEW)]) in landed  # outside the quorum: background

    asyncio.run(scenario())


@pytest.mark.parametrize("outcome", ["fails", "too late"])
def test_a_quorum_replica_that_cannot_be_repaired_makes_the_read_time_out(engine, outcome):
    me, peer = Member(1, "127.0.0.1:7001"), Member(2, "127.0.0.1:7002")

    async def send(member, dataset, writes):
        if outcome == "too late":
            await asyncio.sleep(5)
        return False  # hinted by the coordinator; the read must not answer

    async def scenario():
        spawned: list[asyncio.Future] = []
        with pytest.raises(Timeout, match="read repair"):
            await repairer(engine, send, spawned).repair(
                "ds", [KEY], [NEW], {me: [NEW], peer: [OLD]}, timeout=0.3)
        for task in spawned:
            task.cancel()

    asyncio.run(scenario())
