"""Anti-entropy on real 3-node RF=3 clusters: replicas diverged on purpose (a replica
down, hints off) converge after `manhattan repair` and through the background loop
alone; a deleted key stays deleted across a repair after the grace period."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from manhattan.client import Consistency

from tests.clusters import (
    acked_by_all, eventually, new_dataset, only, start_cluster, wait_until_down, wait_until_up,
)

Q, ONE, ALL = Consistency.QUORUM, Consistency.ONE, Consistency.ALL
KEYS = 300


def run_cli(local, *args: str) -> subprocess.CompletedProcess[str]:
    """`manhattan <args>` against the cluster, as an operator would run it."""
    return subprocess.run(
        [sys.executable, "-m", "manhattan.cli", "--endpoints", ",".join(local.endpoints),
         "--token", local.admin_token, *args],
        capture_output=True, text=True, timeout=240)


def diverge(local, token: str, ds: str) -> None:
    """Node 3 misses KEYS quorum writes for good (hints are off), then comes back."""
    local.node(3).kill()
    wait_until_down(local, 3, observer=1)
    with only(local.node(1).address, token) as client:
        data = client.dataset(ds)
        for i in range(0, KEYS, 50):
            data.put_many([(f"user{j}", "name", f"v{j}") for j in range(i, i + 50)],
                          consistency=Q)
    local.node(3).start()
    wait_until_up(local, 3)


def missing_on(local, node_id: int, token: str, ds: str) -> int:
    """How many of the KEYS records node ``node_id`` lacks, read locally (ONE, no repair)."""
    with only(local.node(node_id).address, token) as client:
        got = client.dataset(ds).get_many([(f"user{j}", "name") for j in range(KEYS)],
                                          consistency=ONE)
    return sum(1 for j, r in enumerate(got) if r is None or r.value != f"v{j}".encode())


def test_manual_repair_converges_diverged_replicas(tmp_path):
    local = start_cluster(tmp_path / "c", cluster={"max_hints_per_peer": 0},
                          repair={"enabled": False})
    try:
        token, ds = new_dataset(local)
        diverge(local, token, ds)
        assert missing_on(local, 3, token, ds) == KEYS  # really diverged
        result = run_cli(local, "repair", "--dataset", ds, "-o", "json")
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["records_exchanged"] >= KEYS
        assert summary["keys_compared"] >= 2 * KEYS and summary["ranges_differing"] > 0
        assert summary["exchanges_failed"] == 0
        assert missing_on(local, 3, token, ds) == 0
        # A second repair finds nothing left to do.
        again = json.loads(run_cli(local, "repair", "--dataset", ds, "-o", "json").stdout)
        assert again["records_exchanged"] == 0 and again["ranges_differing"] == 0
        with only(local.node(1).address, local.admin_token) as admin:
            info = admin.admin.node_info()
            assert info.repair_keys_compared >= KEYS
    finally:
        local.stop()


def test_background_anti_entropy_alone_converges_diverged_replicas(tmp_path):
    local = start_cluster(tmp_path / "c", cluster={"max_hints_per_peer": 0},
                          repair={"enabled": True, "interval_s": 0.3})
    try:
        token, ds = new_dataset(local)
        diverge(local, token, ds)
        assert eventually(lambda: missing_on(local, 3, token, ds) == 0, timeout=90,
                          interval=0.5), "the background repair did not converge node 3"
    finally:
        local.stop()


def test_a_delete_a_replica_missed_stays_deleted_across_repair_after_the_grace(tmp_path):
    local = start_cluster(tmp_path / "c", cluster={"max_hints_per_peer": 0},
                          repair={"enabled": False},
                          storage={"tombstone_grace_s": 1.0, "purge_interval_s": 0.2})
    try:
        token, ds = new_dataset(local)
        with only(local.node(1).address, token) as client:
            # Every replica must hold "old" (node 3 keeps it through the delete). One ALL
            # round has the client's 5 s; on a loaded machine one replica can miss it
            # (Timeout, 2 of 3): ask again, bounded (the same value twice is harmless).
            assert eventually(lambda: acked_by_all(client.dataset(ds), "gone", "l", "old"),
                              timeout=60), "the first write never reached every replica"
        local.node(3).kill()
        wait_until_down(local, 3, observer=1)
        with only(local.node(1).address, token) as client:
            client.dataset(ds).delete("gone", "l", consistency=Q)
        local.node(3).start()
        wait_until_up(local, 3)
        with only(local.node(3).address, token) as stale:
            assert stale.dataset(ds).get("gone", "l", consistency=ONE).value == b"old"
        # Past the grace period, with many purge passes: nodes 1 and 2 must keep the
        # tombstone, because no repair with node 3 has happened since the delete.
        time.sleep(2.5)
        for _ in range(2):
            result = run_cli(local, "repair", "-o", "json")
            assert result.returncode == 0, result.stderr
            for node_id in (1, 2, 3):
                with only(local.node(node_id).address, token) as client:
                    assert client.dataset(ds).get("gone", "l", consistency=ONE) is None, \
                        f"node {node_id} resurrected a deleted key"
            time.sleep(1.0)  # purge passes run between the two repairs
        with only(local.node(1).address, token) as client:
            assert client.dataset(ds).get("gone", "l", consistency=ALL) is None
    finally:
        local.stop()


def test_background_passes_take_one_interval_whatever_the_number_of_datasets() -> None:
    from manhattan.replication.antientropy.scheduler import MIN_GAP_S, gap_s

    assert gap_s(10.0, 1) == 10.0
    assert gap_s(10.0, 10) == 1.0          # ten datasets: still a pass per 10 s
    assert gap_s(10.0, 0) == 10.0          # nothing to repair yet
    assert gap_s(10.0, 1000) == MIN_GAP_S  # never busier than the floor
