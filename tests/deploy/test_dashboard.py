"""The Grafana dashboard asks only for what a real node exports.

Every PromQL query of deploy/grafana/manhattan.json is read for the metric
names it uses and the labels it groups or filters by; a real node (loopback,
temp dir) is given load, including a tenant pushed over its rate limit, and its
/metrics is scraped: each name must be exported (a family a quiet single node
declares without samples, such as replication lag to peers, counts), and each
label must be on its samples (or be one Prometheus adds when it scrapes)."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from manhattan.client import Client, QuotaExceeded, RetryPolicy
from tests.conftest import make_tenant

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "manhattan.json"
ADDED_BY_PROMETHEUS = {"instance", "job"}
PROMQL_WORDS = {"by", "without", "sum", "max", "min", "rate", "time", "histogram_quantile",
                "le"}


def _queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"]
            for target in panel.get("targets", [])]


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\bmanhattan_[a-z0-9_]+", expr))


def _labels(expr: str) -> set[str]:
    grouped = {label.strip() for group in re.findall(r"\bby \(([^)]*)\)", expr)
               for label in group.split(",")}
    filtered = set(re.findall(r"([a-z_]+)\s*(?:=~|!=|=)\s*\"", expr))
    return (grouped | filtered) - {""}


@pytest.fixture(scope="module")
def exported(node, admin) -> dict[str, set[str] | None]:
    """Sample name -> label names (None: declared, no samples), scraped after load."""
    handle = make_tenant(admin, node.address)
    with handle.client() as client:
        dataset = client.dataset(handle.dataset)
        for i in range(20):
            dataset.put("user", f"k{i}", "v" * 100)
            dataset.get("user", f"k{i}")
    admin.admin.set_limits(tenant=handle.name, ops_per_second=1, burst_seconds=1)
    refused = False
    with handle.client(retry=RetryPolicy(max_attempts=1)) as client:
        for i in range(20):  # bounded: the bucket holds one second's worth
            try:
                client.dataset(handle.dataset).put("user", f"fast{i}", "v")
            except QuotaExceeded:
                refused = True
                break
    assert refused, "a tenant limited to 1 op/s was never refused"
    with Client([node.address], token=node.admin_token()) as client:
        metrics_address = client.admin.node_info().metrics_address
    with urllib.request.urlopen(f"http://{metrics_address}/metrics", timeout=5) as reply:
        body = reply.read().decode()
    samples: dict[str, set[str] | None] = {}
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
    for family in text_string_to_metric_families(body):
        for suffix in suffixes.get(family.type, [""]):  # declared, maybe without samples
            samples.setdefault(family.name + suffix, None)
        for sample in family.samples:
            samples[sample.name] = (samples.get(sample.name) or set()) | set(sample.labels)
    return samples


def test_the_dashboard_covers_what_operators_look_at():
    used = set().union(*(_metric_names(expr) for _, expr in _queries()))
    for needed in ("manhattan_requests_total", "manhattan_request_duration_seconds_bucket",
                   "manhattan_hints_pending", "manhattan_antientropy_progress_ratio",
                   "manhattan_streaming_bytes_total", "manhattan_rocksdb_disk_bytes",
                   "manhattan_rocksdb_live_data_bytes", "manhattan_tenant_operations_total",
                   "manhattan_tenant_refusals_total"):
        assert needed in used, needed


@pytest.mark.parametrize("title, expr", _queries())
def test_every_query_names_metrics_and_labels_a_node_exports(exported, title, expr):
    names = _metric_names(expr)
    assert names, f"{title}: no manhattan metric in {expr}"
    for name in names:
        assert name in exported, f"{title}: {name} is not exported (query {expr})"
    labels = _labels(expr) - ADDED_BY_PROMETHEUS - PROMQL_WORDS
    sampled = [exported[name] for name in names if exported[name] is not None]
    if sampled:  # labels can only be read off samples
        have = set().union(*sampled)
        assert labels <= have, f"{title}: labels {labels - have} are not on {names}"


def test_most_queries_are_checked_against_samples_not_only_declarations(exported):
    with_samples = [expr for _, expr in _queries()
                    if all(exported.get(name) is not None for name in _metric_names(expr))]
    assert len(with_samples) >= 0.7 * len(_queries())
    # The tenant pushed over its limit shows up by name.
    assert exported["manhattan_tenant_refusals_total"] == {"tenant", "op"}
