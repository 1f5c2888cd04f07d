"""The metadata voters follow the members through the log, on real clusters: a node that
joins becomes a voter while the voters are below their target, and a departing voter
goes only after its replacement votes, so one paused node never stops admin calls."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from manhattan.client import Client
from manhattan.client.ops import ClusterOps

from tests.cluster.test_membership import cli, new_node
from tests.clusters import eventually, only, paused, start_cluster, wait_until_down

ADMIN_DEADLINE_S = 20.0  # an election after a pause, on a loaded 2-core machine


def metadata_of(node, token: str):
    """The node's MetadataStatus."""
    with only(node.address, token) as client:
        return client.admin.node_info(timeout=5).metadata


def statuses(nodes, token: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each node's metadata role and the voters it sees, by gRPC address."""
    return {node.address: (md.role, tuple(sorted(md.voters)))
            for node, md in ((node, metadata_of(node, token)) for node in nodes)}


def voters_settled(nodes, token: str, count: int) -> bool:
    """Every node sees the same ``count`` voters, and every node is one of them."""
    try:
        seen = statuses(nodes, token)
    except Exception:  # a node mid-election may not answer in time
        return False
    sets = {voters for _, voters in seen.values()}
    return (len(sets) == 1 and len(next(iter(sets))) == count
            and all(role in ("leader", "follower") for role, _ in seen.values()))


def commits_with_each_paused(nodes, token: str, tag: str) -> None:
    """With any one node paused, an admin call through another commits. A paused
    leader is first replaced by an election (a command handed to it would answer
    Timeout, honestly: its outcome is unknown)."""
    for i, stopped in enumerate(nodes):
        via = nodes[(i + 1) % len(nodes)]
        was_leader = metadata_of(stopped, token).role == "leader"
        old_leader = metadata_of(via, token).leader
        with paused(stopped):
            if was_leader:
                assert eventually(lambda: (md := metadata_of(via, token)).has_majority
                                  and md.leader not in ("", old_leader), ADMIN_DEADLINE_S)
            with Client([via.address], token=token) as admin:
                admin.admin.create_tenant(f"{tag}-{i}", timeout=ADMIN_DEADLINE_S)
        with only(via.address, token) as admin:  # and it is there, through a barrier
            assert f"{tag}-{i}" in {t.name for t in admin.admin.list_tenants()}


@contextmanager
def three_voters_and_a_spare(tmp_path) -> Iterator[tuple]:
    """A 3-node cluster whose 3 voters have settled, and a fresh node 4 to bring in;
    every process stopped afterwards, by PID."""
    local = start_cluster(tmp_path / "c")
    extra = None
    try:
        assert eventually(lambda: voters_settled(local.nodes, local.admin_token, 3), 30)
        extra = new_node(local, 4)
        yield local, extra
    finally:
        if extra is not None:
            extra.stop()
        local.stop()


def test_a_replaced_voter_leaves_three_voters_and_one_pause_is_survived(tmp_path):
    with three_voters_and_a_spare(tmp_path) as (local, extra):
        local.node(3).kill()
        wait_until_down(local, 3, observer=1)
        result = cli(local, "node", "replace", "3", extra.address, "-o", "json")
        assert result.returncode == 0, result.stderr + result.stdout
        assert "learner" not in result.stdout, result.stdout
        alive = [local.node(1), local.node(2), extra]
        # three voters, each a live node: the dead one votes no more
        assert eventually(lambda: voters_settled(alive, local.admin_token, 3), 30), \
            statuses(alive, local.admin_token)
        commits_with_each_paused(alive, local.admin_token, "replaced")


def test_a_fourth_node_added_becomes_a_voter_and_leaves_as_one(tmp_path):
    with three_voters_and_a_spare(tmp_path) as (local, extra):
        with Client([local.node(1).address], token=local.admin_token) as admin:
            last = list(ClusterOps(admin).add_node(extra.address,
                                                   via=local.node(1).address))[-1]
        assert last.done and "learner" not in last.message, last.message
        everyone = [*local.nodes, extra]
        assert eventually(lambda: voters_settled(everyone, local.admin_token, 4), 30), \
            statuses(everyone, local.admin_token)
        shown = cli(local, "metadata", "status", "-o", "json")
        assert shown.returncode == 0, shown.stderr
        rows = json.loads(shown.stdout)
        assert sorted(r["id"] for r in rows) == [1, 2, 3, 4]
        assert all(r["role"] in ("leader", "follower") and len(r["voters"]) == 4
                   for r in rows), rows
        commits_with_each_paused(everyone, local.admin_token, "added")
        # The promoted node drives the next change: it knows node 1's Raft endpoint only
        # from the log, and removes that voter when node 1 leaves.
        assert eventually(lambda: voters_settled(everyone, local.admin_token, 4), 30)
        assert eventually(lambda: metadata_of(extra, local.admin_token).has_majority, 30)
        with Client([extra.address], token=local.admin_token) as admin:
            last = list(ClusterOps(admin).decommission(1, via=extra.address))[-1]
        assert last.done, last.message
        remaining = [local.node(2), local.node(3), extra]
        assert eventually(lambda: voters_settled(remaining, local.admin_token, 3), 30), \
            statuses(remaining, local.admin_token)


def _switched(client: Client, address: str) -> bool:
    """Whether the node ``client`` talks to applied the switch that makes ``address`` a
    normal member."""
    return any(m.address == address and m.state == "normal"
               for m in client.admin.topology(timeout=2).members)


def test_a_voter_change_whose_driver_dies_after_the_switch_is_resumed_from_another_node(
        tmp_path):
    with three_voters_and_a_spare(tmp_path) as (local, extra):
        token = local.admin_token
        driver, other = local.node(1), local.node(2)
        outcome: list[object] = []

        def drive() -> None:  # ends with an error once its node is killed
            try:
                with Client([driver.address], token=token) as admin:
                    outcome.extend(ClusterOps(admin).add_node(extra.address,
                                                              via=driver.address))
            except Exception as exc:  # the driver's death, as the operator sees it
                outcome.append(exc)

        thread = threading.Thread(target=drive, daemon=True)
        with only(other.address, token) as watcher:  # one connection: polled every 10 ms
            thread.start()
            eventually(lambda: not thread.is_alive() or _switched(watcher, extra.address),
                       120, 0.01)
            assert _switched(watcher, extra.address), f"the change never switched: {outcome}"
            # The switch is committed: freeze the newcomer, so the promotion cannot
            # finish, and kill the driver before it settles the voters.
            with paused(extra):
                driver.kill()
                pending = watcher.admin.node_info(timeout=5).metadata.voters_pending_change
        thread.join(60)
        if not pending:
            pytest.skip("the driver promoted the newcomer before it could be killed")
        with Client([other.address], token=token) as admin:
            last = list(ClusterOps(admin).add_node(extra.address, via=other.address))[-1]
        assert last.done and "resumed after the switch" in last.message, last.message
        assert "learner" not in last.message, last.message
        alive = [other, local.node(3), extra]
        # node 4 votes; node 1 (dead) still does too, until someone removes it
        assert eventually(lambda: voters_settled(alive, token, 4), 60), statuses(alive, token)
        assert all(metadata_of(n, token).voters_pending_change == 0 for n in alive)
        with Client([other.address], token=token) as admin:  # 3 of 4 voters commit
            admin.admin.create_tenant("after-resume", timeout=ADMIN_DEADLINE_S)
