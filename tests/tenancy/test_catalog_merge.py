"""A peer's catalog is validated before it is merged: one bad item must not brick a node."""

from __future__ import annotations

import grpc

from manhattan.client import Client
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


def test_malformed_catalog_items_from_a_peer_are_dropped(fresh_node):
    token = fresh_node.admin_token()
    metadata = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(fresh_node.address) as channel:
        stub = peer_pb2_grpc.PeerStub(channel)
        stub.PushCatalog(peer_pb2.CatalogSnapshot(version=2**62, items=[
            peer_pb2.CatalogItem(key=k, value=v, version=2**62) for k, v in MALFORMED]
            + [peer_pb2.CatalogItem(key="tenant/fine", value=b'{"name": "fine", '
                                    b'"created_at_ms": 1}', version=2**62)]),
            metadata=metadata, timeout=5)
        snapshot = stub.GetCatalog(peer_pb2.GetCatalogRequest(), metadata=metadata, timeout=5)
    keys = {i.key for i in snapshot.items}
    assert "tenant/fine" in keys                       # the good item of the batch is merged
    assert not keys & {k for k, _ in MALFORMED}
    fresh_node.stop()                                  # restarts on what it persisted
    fresh_node.start()
    with Client([fresh_node.address], token=token) as admin:
        admin.admin.create_tenant("after")
        assert {"after", "fine"} <= {t.name for t in admin.admin.list_tenants()}
