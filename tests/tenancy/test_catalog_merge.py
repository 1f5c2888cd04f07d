"""A peer's catalog is validated before it is merged: one bad item must not brick a node.
With the metadata log (the default) a pushed catalog is not merged at all."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from manhattan.client import Client
from manhattan.hlc import pack, wall_clock_ms
from manhattan.node.process import NodeProcess
from manhattan.proto.v1 import peer_pb2, peer_pb2_grpc


MALFORMED = [
    ("token/abc", b"not json"),
    ("token/abd", b'{"token_id": "abd", "tenant": "t"}'),
    ("token/abe", b'{"token_id": "other", "tenant": "t", "secret_sha256": "' + b"0" * 64
     + b'", "created_at_ms": 1}'),
    ("dataset/x", b'{"name": "x", "tenant": "t", "replication_factor": "three"}'),
    ("dataset/y", b"\xff\xfe"),
    ("tenant/Bad Name", b'{"name": "Bad Name", "created_at_ms": 1}'),
    ("limits/tenant/t", b'{"ops_per_second": -5}'),
]


@pytest.fixture
def gossip_node(tmp_path) -> Iterator[NodeProcess]:
    """A node of the previous kind: catalog spread by gossip, no metadata log."""
    process = NodeProcess(tmp_path / "data", env={"MANHATTAN_METADATA_ENABLED": "false"})
    process.start()
    try:
        yield process
    finally:
        process.kill()


def _push_and_read(node: NodeProcess) -> set[str]:
    """Push MALFORMED plus one good tenant as a peer would; the keys the node then holds.
    Stamped now, as a peer's clock would stamp them: a version far ahead of the node's
    clock (past clock.max_skew_ms) is dropped whatever the item, by the skew check."""
    metadata = (("authorization", f"Bearer {node.admin_token()}"),)
    version = pack(wall_clock_ms())
    with grpc.insecure_channel(node.address) as channel:
        stub = peer_pb2_grpc.PeerStub(channel)
        stub.PushCatalog(peer_pb2.CatalogSnapshot(version=version, items=[
            peer_pb2.CatalogItem(key=k, value=v, version=version) for k, v in MALFORMED]
            + [peer_pb2.CatalogItem(key="tenant/fine", value=b'{"name": "fine", '
                                    b'"created_at_ms": 1}', version=version)]),
            metadata=metadata, timeout=5)
        snapshot = stub.GetCatalog(peer_pb2.GetCatalogRequest(), metadata=metadata, timeout=5)
    return {i.key for i in snapshot.items}


def test_a_pushed_catalog_changes_nothing_under_the_metadata_log(fresh_node):
    keys = _push_and_read(fresh_node)
    assert not keys & ({k for k, _ in MALFORMED} | {"tenant/fine"})
    with Client([fresh_node.address], token=fresh_node.admin_token()) as admin:
        admin.admin.create_tenant("after")
        assert "fine" not in {t.name for t in admin.admin.list_tenants()}


def test_malformed_catalog_items_from_a_peer_are_dropped(gossip_node):
    fresh_node = gossip_node
    token = fresh_node.admin_token()
    keys = _push_and_read(fresh_node)
    assert "tenant/fine" in keys                       # the good item of the batch is merged
    assert not keys & {k for k, _ in MALFORMED}
    fresh_node.stop()                                  # restarts on what it persisted
    fresh_node.start()
    with Client([fresh_node.address], token=token) as admin:
        admin.admin.create_tenant("after")
        assert {"after", "fine"} <= {t.name for t in admin.admin.list_tenants()}
