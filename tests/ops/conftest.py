"""Fixtures of the operations tests: nodes with JSON logs, /metrics scraping."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from manhattan.client import Client, NodeInfo, RoundRobinPolicy
from manhattan.node.process import NodeProcess

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

# JSON logs and one access-log line per request, so tests can read what a request logged.
OPS_ENV = {"MANHATTAN_NODE_LOG_FORMAT": "json", "MANHATTAN_NODE_ACCESS_LOG": "true"}


def node_info(address: str, token: str) -> NodeInfo:
    """NodeInfo of exactly the node at ``address``."""
    with Client([address], token=token, routing=RoundRobinPolicy([address])) as client:
        return client.admin.node_info()


def metrics_text(metrics_address: str) -> str:
    """The body of a node's /metrics."""
    with urllib.request.urlopen(f"http://{metrics_address}/metrics", timeout=5) as reply:
        assert reply.status == 200
        return reply.read().decode()


def families(metrics_address: str) -> dict[str, str]:
    """Metric family name -> type, as exposed (families without samples included)."""
    return {f.name: f.type for f in text_string_to_metric_families(metrics_text(metrics_address))}


def scrape(metrics_address: str) -> Samples:
    """Every sample of a node's /metrics, keyed by (sample name, labels)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(metrics_text(metrics_address)):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


def names(samples: Samples) -> set[str]:
    """The sample names present."""
    return {name for name, _ in samples}


@pytest.fixture(scope="module")
def ops_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """One node of the module with JSON logs and the access log on."""
    root: Path = tmp_path_factory.mktemp("ops-node")
    process = NodeProcess(root / "data", node_id=1, env=OPS_ENV)
    process.start()
    try:
        yield process
    finally:
        process.stop()
