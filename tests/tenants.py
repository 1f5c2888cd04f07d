"""Tenants for tests: a uniquely named tenant with one dataset on a given node
(``make_on``); the fixtures over it (``made``, ``make_tenant_on``) are in tests/conftest.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from manhattan.client import Client
from manhattan.node.process import NodeProcess


@dataclass(frozen=True)
class Made:
    """A tenant with one dataset, on one node."""

    tenant: str
    token: str
    dataset: str
    endpoint: str

    def client(self, **kwargs) -> Client:
        """A fresh client acting as this tenant."""
        return Client([self.endpoint], token=self.token, **kwargs)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC metadata carrying this tenant's token (for raw stubs)."""
        return (("authorization", f"Bearer {self.token}"),)


def unique(prefix: str) -> str:
    """A valid, unique tenant/dataset name."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def make_on(node: NodeProcess, **dataset_options) -> Made:
    """Create a tenant with one dataset on ``node`` (through its admin token)."""
    tenant, dataset = unique("t"), unique("ds")
    with Client([node.address], token=node.admin_token()) as admin_client:
        token = admin_client.admin.create_tenant(tenant)
        admin_client.admin.create_dataset(dataset, tenant=tenant, **dataset_options)
    return Made(tenant, token, dataset, node.address)
