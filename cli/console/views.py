"""What the console page shows, read from the cluster (blocking calls, run in threads).

The node rows are ``manhattan status -o json`` rows (one definition of what a
node's state is); the ring is drawn from the same ring the status command
computes ownership with; changes go through the CLI itself (``cli_call``), so the
page validates and words errors exactly as the command line does.
"""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

import click
from prometheus_client.parser import text_string_to_metric_families

from manhattan.cli.cluster import ring_of, status_row
from manhattan.cli.context import CliSettings
from manhattan.cli.fanout import node_client
from manhattan.client import Client, ManhattanError, NodeInfo
from manhattan.cluster.ring import RING_SIZE, Ring

RING_SLICES = 360  # the ring is drawn as this many slices, each coloured by its owner
NODE_TIMEOUT_S = 1.5
_CLI_LOCK = threading.Lock()  # cli_call redirects the process's stdout: one at a time


@dataclass
class CliOutcome:
    """What a CLI command printed, or the error it reported (as the terminal shows it)."""

    ok: bool
    output: str
    error: str = ""


def cli_call(settings: CliSettings, args: Sequence[str]) -> CliOutcome:
    """Run ``manhattan <args>`` in this process with the console's connection settings."""
    from manhattan.cli.main import cli

    base = ["--timeout", str(settings.timeout)]
    if settings.endpoints:
        base += ["--endpoints", settings.endpoints]
    if settings.token:
        base += ["--token", settings.token]
    if settings.cluster_file:
        base += ["--cluster-file", str(settings.cluster_file)]
    for flag, path in (("--ca-file", settings.ca_file), ("--cert-file", settings.cert_file),
                       ("--key-file", settings.key_file)):
        if path:
            base += [flag, str(path)]
    out, err = io.StringIO(), io.StringIO()
    with _CLI_LOCK, redirect_stdout(out), redirect_stderr(err):
        try:
            cli.main(args=[*base, *args], prog_name="manhattan", standalone_mode=False)
        except click.ClickException as exc:
            return CliOutcome(False, out.getvalue(), f"Error: {exc.format_message()}")
        except click.exceptions.Exit as exc:
            if exc.exit_code:
                return CliOutcome(False, out.getvalue(), err.getvalue() or "failed")
        except click.exceptions.Abort:
            return CliOutcome(False, out.getvalue(), "Aborted")
    return CliOutcome(True, out.getvalue())


def ring_arcs(ring: Ring) -> list[dict[str, Any]]:
    """The ring as arcs of consecutive slices with one owner: start/end in degrees."""
    arcs: list[dict[str, Any]] = []
    for index in range(RING_SLICES):
        owner = ring.owner_at(int((index + 0.5) * RING_SIZE / RING_SLICES))
        node = owner.id if owner else None
        if arcs and arcs[-1]["node"] == node:
            arcs[-1]["end"] = (index + 1) * 360 / RING_SLICES
        else:
            arcs.append({"node": node, "start": index * 360 / RING_SLICES,
                         "end": (index + 1) * 360 / RING_SLICES})
    return arcs


@dataclass
class Views:
    """The console's reads, with the clients and the rate samples they keep."""

    settings: CliSettings
    _clients: dict[str, Client] = field(default_factory=dict)
    _tenant_samples: tuple[float, dict[str, float]] | None = None
    _rates: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _client(self, address: str | None = None) -> Client:
        endpoints, token = self.settings.resolve()
        key = address or ",".join(endpoints)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = (node_client(address, token, NODE_TIMEOUT_S, self.settings.tls())
                          if address else Client(endpoints, token=token,
                                                 timeout=self.settings.timeout,
                                                 tls=self.settings.tls()))
                self._clients[key] = client
        return client

    def close(self) -> None:
        """Close every client made."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def cluster(self) -> dict[str, Any]:
        """Nodes (status rows plus a 'healthy' verdict) and the ring."""
        topology = self._client().admin.topology()
        ring = ring_of(topology)
        ownership, primary = ring.effective_ownership(3), ring.primary_ownership()

        def info(address: str) -> NodeInfo | None:
            try:
                return self._client(address).admin.node_info(timeout=NODE_TIMEOUT_S)
            except ManhattanError:
                return None

        with ThreadPoolExecutor(max_workers=max(len(topology.members), 1)) as pool:
            infos = list(pool.map(info, [m.address for m in topology.members]))
        nodes = []
        for member, node in zip(topology.members, infos):
            row = status_row(member, node, ownership.get(member.id, 0.0), "json")
            row["healthy"] = member.alive and node is not None
            row["primary_ownership"] = round(primary.get(member.id, 0.0), 4)
            nodes.append(row)
        self._sample_tenant_rates([n for n in infos if n is not None])
        return {"epoch": topology.epoch, "nodes": nodes, "ring": ring_arcs(ring)}

    def _sample_tenant_rates(self, infos: list[NodeInfo]) -> None:
        """Requests per second per tenant, from the nodes' /metrics between two polls."""
        totals: dict[str, float] = {}
        for info in infos:
            if not info.metrics_address:
                continue
            try:
                with urllib.request.urlopen(f"http://{info.metrics_address}/metrics",
                                            timeout=NODE_TIMEOUT_S) as reply:
                    body = reply.read().decode()
            except OSError:
                continue
            for family in text_string_to_metric_families(body):
                if family.name != "manhattan_tenant_operations":
                    continue
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        tenant = sample.labels["tenant"]
                        totals[tenant] = totals.get(tenant, 0.0) + sample.value
        now = time.monotonic()
        with self._lock:
            if self._tenant_samples is not None:
                then, before = self._tenant_samples
                if now - then > 0.2:
                    self._rates = {t: max(v - before.get(t, 0.0), 0.0) / (now - then)
                                   for t, v in totals.items()}
            self._tenant_samples = (now, totals)

    def tenants(self) -> list[dict[str, Any]]:
        """Every tenant with its datasets, limits and current request rate."""
        admin = self._client().admin
        datasets: dict[str, list[dict[str, Any]]] = {}
        for info in admin.list_datasets(None):
            datasets.setdefault(info.tenant, []).append({
                "name": info.name, "replication_factor": info.replication_factor,
                "read_consistency": info.read_consistency.name.lower(),
                "write_consistency": info.write_consistency.name.lower()})
        rows = []
        for tenant in admin.list_tenants():
            limits = admin.describe_tenant(tenant.name).limits
            rows.append({
                "name": tenant.name, "datasets": datasets.get(tenant.name, []),
                "limits": {"ops_per_second": limits.ops_per_second,
                           "bytes_per_second": limits.bytes_per_second,
                           "storage_quota_bytes": limits.storage_quota_bytes},
                "requests_per_second": round(self._rates.get(tenant.name, 0.0), 2)})
        return rows

    def timeline(self, user: str, limit: int = 20) -> CliOutcome | dict[str, Any]:
        """``user``'s home timeline, each entry marked pushed (fanned out at post time)
        or merged (a celebrity's, merged at read)."""
        page = cli_call(self.settings, ["timeline", "home", user, "--limit", str(limit),
                                        "-o", "json"])
        if not page.ok:
            return page
        tweets = json.loads(page.output)[0]["tweets"]
        celebrity: dict[str, bool] = {}
        for author in sorted({t["author"] for t in tweets}):
            shown = cli_call(self.settings, ["user", "show", author, "-o", "json"])
            celebrity[author] = shown.ok and bool(json.loads(shown.output)[0].get("celebrity"))
        return {"user": user, "tweets": [
            {**t, "delivery": "merged" if celebrity.get(t["author"]) else "pushed"}
            for t in tweets]}
