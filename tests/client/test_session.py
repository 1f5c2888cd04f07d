"""The SDK's session clock against a real node: every answer moves it up, every request
carries it, a process can hand it to another; the node refuses a far-future or
malformed one before doing anything."""

from __future__ import annotations

import asyncio

import pytest

from manhattan.client import AsyncClient, InvalidRequest
from manhattan.client.session import SessionClock
from manhattan.hlc import HybridClock, SESSION_KEY, pack, wall_clock_ms
from manhattan.node.session import absorb_session


def test_every_answer_moves_the_session_clock_up_and_it_never_goes_back(new_tenant) -> None:
    t = new_tenant()
    with t.client() as client:
        assert client.session_timestamp == 0
        version = client.dataset(t.dataset).put("p", "k", "v")
        assert client.session_timestamp >= version.timestamp
        seen = client.session_timestamp
        client.advance_session(seen - 5)  # never back
        assert client.session_timestamp == seen
        assert client.dataset(t.dataset).get("p", "k") is not None
        assert client.session_timestamp >= seen
        with t.client() as other:  # another process, handed the timestamp
            other.advance_session(client.session_timestamp)
            later = other.dataset(t.dataset).put("p", "k", "w")
            assert later.timestamp > seen and later.superseded == 0


def test_the_async_client_keeps_the_session_clock_too(new_tenant) -> None:
    t = new_tenant()

    async def run() -> tuple[int, int]:
        async with AsyncClient([t.endpoint], token=t.token) as client:
            version = await client.dataset(t.dataset).put("p", "a", "v")
            return version.timestamp, client.session_timestamp

    written, session = asyncio.run(run())
    assert session >= written > 0


def test_a_far_future_session_timestamp_is_refused_before_any_work(new_tenant) -> None:
    t = new_tenant()
    with t.client() as client:
        client.advance_session(pack(wall_clock_ms() + 3_600_000))
        with pytest.raises(InvalidRequest, match="ahead of this node's clock"):
            client.dataset(t.dataset).put("p", "future", "v")
    with t.client() as fresh:
        assert fresh.dataset(t.dataset).get("p", "future") is None


@pytest.mark.parametrize("bad", [-1, 1 << 64, "12", True])
def test_advance_session_rejects_what_is_not_a_timestamp(bad) -> None:
    with pytest.raises(InvalidRequest, match="session timestamp"):
        SessionClock().advance(bad)


@pytest.mark.parametrize("value", ["abc", "-3", str(1 << 64), ""])
def test_the_node_rejects_a_malformed_session_header(value) -> None:
    with pytest.raises(InvalidRequest, match=SESSION_KEY):
        absorb_session(HybridClock(), [(SESSION_KEY, value)])
