"""Conditional writes in the SDK: how an unknown outcome is settled by the sealing
re-read (sans I/O), and the same surface on the asyncio client against a real node."""

from __future__ import annotations

import asyncio

import pytest

from manhattan.client import AsyncClient, ConditionFailed, Consistency, Record, Timeout, Version
from manhattan.client.conditional import MAX_RESENDS, ConditionalWrite

OLD = Version(100, 1)


def write(**options) -> ConditionalWrite:
    value = options.pop("value", "mine")
    return ConditionalWrite("ds", "p", "l", value, ttl=None, durability=0, **{
        "if_version": None, "if_absent": False, "consistency": Consistency.DEFAULT, **options})


def record(value: bytes, version: Version) -> Record:
    return Record(b"p", b"l", value, version)


UNKNOWN = Timeout("no answer in time")


def test_condition_still_holding_means_not_applied_and_safe_to_send_again() -> None:
    w = write(if_version=OLD)
    for _ in range(MAX_RESENDS):
        assert w.settle(record(b"old", OLD), UNKNOWN) is None
    with pytest.raises(Timeout):  # bounded: the call's outcome stays unknown
        w.settle(record(b"old", OLD), UNKNOWN)
    assert write(if_absent=True).settle(None, UNKNOWN) is None


def test_our_value_under_a_new_version_means_applied() -> None:
    new = Version(200, 2)
    assert write(if_version=OLD).settle(record(b"mine", new), UNKNOWN) == new
    assert write(if_absent=True).settle(record(b"mine", new), UNKNOWN) == new
    assert write(consistency=Consistency.SERIAL).settle(record(b"mine", new), UNKNOWN) == new


def test_another_value_leaves_the_outcome_unknown() -> None:
    with pytest.raises(Timeout, match="not this write's") as info:
        write(if_version=OLD).settle(record(b"theirs", Version(300, 3)), UNKNOWN)
    assert info.value.__cause__ is UNKNOWN
    with pytest.raises(Timeout):  # a delete that finds nothing: ours or another's
        write(if_version=OLD, value=None).settle(None, UNKNOWN)


def test_a_failed_answer_raises_condition_failed_with_the_current_record() -> None:
    from manhattan.client.conditional import CasAnswer
    current = record(b"theirs", Version(300, 3))
    with pytest.raises(ConditionFailed) as info:
        write(if_version=OLD).written(CasAnswer(False, None, current))
    assert info.value.current == current


def test_the_asyncio_client_has_the_same_conditional_surface(made) -> None:
    async def scenario() -> None:
        async with AsyncClient([made.endpoint], token=made.token) as client:
            ds = client.dataset(made.dataset)
            first = await ds.put("async", "k", "a", if_absent=True)
            with pytest.raises(ConditionFailed) as failed:
                await ds.put("async", "k", "b", if_absent=True)
            assert failed.value.current.value == b"a"
            await ds.put("async", "k", "b", if_version=first)
            got = await ds.get("async", "k", consistency=Consistency.SERIAL)
            assert got.value == b"b"
            await ds.delete("async", "k", if_version=got)
            assert await ds.get("async", "k", consistency=Consistency.SERIAL) is None
    asyncio.run(scenario())
