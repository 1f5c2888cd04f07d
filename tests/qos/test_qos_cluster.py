"""QoS and token revocation on a real 3-node cluster (one process per node)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from manhattan.client import Client, ManhattanError, Unauthenticated
from manhattan.node.local_cluster import LocalCluster
from tests.clusters import eventually, new_dataset, only, start_cluster

FLOODER = Path(__file__).with_name("flooder.py")
LIMIT = 40.0            # the flooder's ops/s, cluster-wide
BURST_SECONDS = 0.5
WINDOW_S = 0.6          # one measuring window; ROUNDS of each kind, interleaved
SETTLE_S = 0.15
ROUNDS = 6
FLOOD_CONCURRENCY = 32  # coroutines resending at once, no retries: many times the limit


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    local = start_cluster(tmp_path_factory.mktemp("qos"))
    try:
        yield local
    finally:
        local.stop()


class Victim:
    """The other tenant: ``threads`` blocking clients putting back to back, counted."""

    def __init__(self, endpoints: list[str], token: str, dataset: str, threads: int = 4
                 ) -> None:
        self.count = 0
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(endpoints, token, dataset, i))
                         for i in range(threads)]

    def _run(self, endpoints: list[str], token: str, dataset: str, i: int) -> None:
        with Client(endpoints, token=token, timeout=5) as client:
            ds = client.dataset(dataset)
            n = 0
            while not self._stop.is_set():
                n += 1
                try:
                    ds.put(f"v{i}-{n % 32}", str(n), b"y" * 16)
                except ManhattanError as exc:
                    self.errors.append(exc)
                    continue
                with self._lock:
                    self.count += 1

    def rate(self, seconds: float) -> float:
        """Puts per second served over the next ``seconds``."""
        before, start = self.count, time.monotonic()
        time.sleep(seconds)
        return (self.count - before) / (time.monotonic() - start)

    def __enter__(self) -> "Victim":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def limits_everywhere(local: LocalCluster, tenant: str, ops: float) -> bool:
    for node in local.nodes:
        with only(node.address, local.admin_token) as client:
            if client.admin.describe_tenant(tenant).limits.ops_per_second != ops:
                return False
    return True


def test_a_flooding_tenant_is_throttled_and_the_other_keeps_its_throughput(cluster):
    flood_token, flood_ds = new_dataset(cluster)
    victim_token, victim_ds = new_dataset(cluster)
    flood_tenant = flood_ds.replace("cds-", "ct-")
    with Client(cluster.endpoints, token=cluster.admin_token) as admin:
        admin.admin.set_limits(tenant=flood_tenant, ops_per_second=LIMIT,
                               burst_seconds=BURST_SECONDS)
    assert eventually(lambda: limits_everywhere(cluster, flood_tenant, LIMIT), timeout=5)

    # The flooder runs in its own process, paused (SIGSTOP) and resumed (SIGCONT) in
    # turns while the victim runs throughout: solo and shared windows interleave, so a
    # change in what else the machine runs cannot pass for the flood's effect.
    flooder = subprocess.Popen(
        [sys.executable, str(FLOODER), ",".join(cluster.endpoints), flood_token, flood_ds,
         str(ROUNDS * 2 * (SETTLE_S + WINDOW_S) + 1.0), str(FLOOD_CONCURRENCY)],
        stdout=subprocess.PIPE, text=True)
    solo_rates, shared_rates = [], []
    try:
        assert flooder.stdout.readline().strip() == "started"
        with Victim(cluster.endpoints, victim_token, victim_ds) as victim:
            for _ in range(ROUNDS):
                time.sleep(SETTLE_S)
                shared_rates.append(victim.rate(WINDOW_S))
                flooder.send_signal(signal.SIGSTOP)
                time.sleep(SETTLE_S)
                solo_rates.append(victim.rate(WINDOW_S))
                flooder.send_signal(signal.SIGCONT)
        assert not victim.errors, victim.errors[:3]
        out, _ = flooder.communicate(timeout=60)
    finally:
        if flooder.poll() is None:
            flooder.send_signal(signal.SIGCONT)
            flooder.kill()
            flooder.wait()
    solo, shared = sum(solo_rates) / ROUNDS, sum(shared_rates) / ROUNDS
    print("\nsolo windows", [round(r) for r in solo_rates], "shared", [round(r) for r in shared_rates])
    stats = json.loads(out.strip().splitlines()[-1])
    burst = LIMIT * BURST_SECONDS
    attempts = stats["ok"] + stats["exhausted"]
    print(f"\nvictim solo {solo:.0f}/s, during flood {shared:.0f}/s, ratio "
          f"{shared / solo:.2f}; flooder {attempts} attempts "
          f"({attempts / stats['elapsed_s']:.0f}/s), served {stats['ok']} "
          f"({stats['ok'] / stats['elapsed_s']:.1f}/s, limit {LIMIT:g}/s + burst {burst:g}), "
          f"first refusal after {stats['ok_before_first']} served, "
          f"{stats['first_rejection_s']:.3f}s, retry-after {stats['retry_after_seen']}")
    assert stats["other"] == 0
    # Flooding far past the limit (most requests refused), and refused within a
    # second's budget of the limit.
    assert attempts >= 3 * stats["ok"]
    assert stats["ok_before_first"] is not None and stats["ok_before_first"] <= LIMIT + burst
    assert stats["retry_after_seen"] and stats["retry_after_seen"] > 0
    # Served: within the limit plus the burst over the whole run.
    assert stats["ok"] <= LIMIT * stats["elapsed_s"] + burst
    # throttled, not shut out (it floods only half the time: paused in the solo windows)
    assert stats["ok"] >= 0.25 * LIMIT * stats["elapsed_s"]
    # The other tenant is not starved: it keeps a good share of its solo throughput.
    # (A quarter, not a half: windows are interleaved, but `make test` runs two test
    # workers on two cores, and the other worker's load comes and goes between windows;
    # the figures printed above are the measurement.)
    assert shared >= 0.25 * solo


def test_a_revoked_token_fails_on_every_node_within_five_seconds(cluster):
    token, dataset = new_dataset(cluster)
    tenant = dataset.replace("cds-", "ct-")
    with Client(cluster.endpoints, token=cluster.admin_token) as admin:
        extra, info = admin.admin.create_token(tenant)
        clients = [only(n.address, extra) for n in cluster.nodes]
        try:
            for client in clients:              # the new token works on every node
                assert eventually(lambda: _works(client, dataset), timeout=5)
            admin.admin.revoke_token(info.token_id)
            for client in clients:
                assert eventually(lambda: _refused(client, dataset), timeout=5)
        finally:
            for client in clients:
                client.close()
    with only(cluster.nodes[2].address, token) as tenant_client:   # other tokens unaffected
        tenant_client.dataset(dataset).get("p", "l")


def test_limits_and_audit_reach_every_node(cluster):
    _, dataset = new_dataset(cluster)
    tenant = dataset.replace("cds-", "ct-")
    with only(cluster.nodes[1].address, cluster.admin_token) as admin:
        admin.admin.set_limits(tenant=tenant, ops_per_second=123)
    assert eventually(lambda: limits_everywhere(cluster, tenant, 123), timeout=5)
    with Client([cluster.nodes[0].address], token=cluster.admin_token) as admin:
        entries = admin.admin.audit_log(limit=1000)
    [entry] = [e for e in entries if e.action == "set_limits" and e.target == f"tenant:{tenant}"]
    assert entry.node_id == 2                 # recorded by the node that served it


def _works(client: Client, dataset: str) -> bool:
    try:
        client.dataset(dataset).get("p", "l")
        return True
    except Unauthenticated:
        return False


def _refused(client: Client, dataset: str) -> bool:
    try:
        client.dataset(dataset).get("p", "l")
        return False
    except Unauthenticated:
        return True
