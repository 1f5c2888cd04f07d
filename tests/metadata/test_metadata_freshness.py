"""Bounded revocation rests on freshness, not on contact with a majority.

Found by the jepsen-style smoke (revocation check, seed 20261121, two test workers): a
follower paused while a token was revoked saw a leader and a majority as soon as it
resumed, so it kept serving the revoked token until the leader's next entries reached
it, 7.7 s after the revoke against a 5 s bound. A node's metadata is now fresh only as of
the start of its newest completed barrier (everything committed before that moment is
applied), and tenant calls are refused once that is older than ``max_staleness_s``.

A real one-voter log (it always has a majority) shows the rule: contact alone never
makes it fresh, a barrier does, and freshness runs out unless renewed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from manhattan.errors import Timeout
from manhattan.metadata.log import LogSettings, MetadataLog, heartbeat_s
from manhattan.node.process import free_port

STALENESS_S = 0.5


def test_only_a_completed_barrier_makes_a_node_fresh_and_freshness_runs_out(
        tmp_path: Path) -> None:
    async def scenario() -> list[tuple[bool, bool]]:
        address = f"127.0.0.1:{free_port()}"
        log = MetadataLog(LogSettings(address, (address,), tmp_path / "log", "secret",
                                      max_staleness_s=STALENESS_S, election_timeout_s=0.2),
                          on_applied=lambda applied: None, on_restored=lambda items: None)
        log.start()
        seen = []
        try:
            deadline = time.monotonic() + 10
            while not log.has_majority():  # a one-voter log elects itself
                assert time.monotonic() < deadline, "no leader"
                await asyncio.sleep(0.05)
            seen.append((log.has_majority(), log.stale()))  # in contact, never confirmed
            await log.barrier(5.0)
            seen.append((log.has_majority(), log.stale()))  # confirmed just now
            await asyncio.sleep(STALENESS_S * 1.5)
            seen.append((log.has_majority(), log.stale()))  # in contact, confirmed too long ago
            await log.barrier(5.0)
            seen.append((log.has_majority(), log.stale()))
        finally:
            log.close()
        return seen

    assert asyncio.run(scenario()) == [(True, True), (True, False), (True, True), (True, False)]
    assert MetadataLog(LogSettings("a:1", ("a:1",), tmp_path, "s", max_staleness_s=30.0),
                       on_applied=print, on_restored=print).freshness_period_s == 5.0
    assert MetadataLog(LogSettings("a:1", ("a:1",), tmp_path, "s", max_staleness_s=2.0),
                       on_applied=print, on_restored=print).freshness_period_s == 0.5


def _one_voter_log(tmp_path: Path, name: str) -> MetadataLog:
    address = f"127.0.0.1:{free_port()}"
    return MetadataLog(LogSettings(address, (address,), tmp_path / name, "secret",
                                   max_staleness_s=30.0, election_timeout_s=0.2),
                       on_applied=lambda applied: None, on_restored=lambda items: None)


async def _elected(log: MetadataLog) -> None:
    deadline = time.monotonic() + 10
    while not log.has_majority():
        assert time.monotonic() < deadline, "no leader"
        await asyncio.sleep(0.05)


def test_a_log_restarted_on_the_same_cluster_keeps_the_copys_freshness(tmp_path: Path) -> None:
    """Found by a fresh-clone CI run: a learner promoted to voter restarts its log with a
    fresh journal; its applied copy lost nothing, yet it refused tenant calls as "stale
    ever since it started" until its new member caught up (seconds on a loaded host)."""
    async def scenario() -> tuple[bool, bool, bool]:
        learner = _one_voter_log(tmp_path, "learner")
        learner.start()
        try:
            await _elected(learner)
            await learner.barrier(5.0)
        finally:
            learner.close()
        promoted, joined = _one_voter_log(tmp_path, "voter"), _one_voter_log(tmp_path, "other")
        promoted.inherit_freshness(learner)
        return learner.stale(), promoted.stale(), joined.stale()

    assert asyncio.run(scenario()) == (False, False, True)


def test_closing_the_log_ends_its_commands_in_flight_as_outcome_unknown(tmp_path: Path) -> None:
    """A barrier in flight when the node restarts its log (a promotion) must not hold the
    requests that share it for the command's whole deadline."""
    async def scenario() -> tuple[str, float]:
        log = _one_voter_log(tmp_path, "log")
        log.start()
        await _elected(log)
        started = time.monotonic()
        command = asyncio.create_task(log.submit({"op": "barrier"}, 30.0))
        await asyncio.sleep(0)  # the command is handed to Raft; its answer not yet read
        log.close()
        try:
            await command
        except Timeout as exc:
            return str(exc), time.monotonic() - started
        return "committed", time.monotonic() - started

    message, waited = asyncio.run(scenario())
    assert "outcome unknown" in message and "restarted its metadata member" in message
    assert waited < 30.0


def test_raft_heartbeats_a_sixth_of_the_election_timeout_at_most_every_100_ms() -> None:
    assert heartbeat_s(0.6) == pytest.approx(0.1)
    assert heartbeat_s(3.0) == pytest.approx(0.1)
    assert heartbeat_s(0.3) == pytest.approx(0.05)
    # pysyncobj refuses an election timeout under three heartbeats
    assert all(heartbeat_s(t) * 3 < t for t in (0.2, 0.3, 0.6, 1.0, 30.0))
