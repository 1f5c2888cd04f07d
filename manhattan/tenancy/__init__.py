"""Tenants, datasets and the tokens that speak for them."""

from manhattan.tenancy.catalog import Catalog, DatasetSpec, TenantInfo, normalise_spec
from manhattan.tenancy.items import Item, MetaStore, VersionedItems
from manhattan.tenancy.names import check_name
from manhattan.tenancy.tokens import (
    ADMIN, Principal, TokenStore, generate_admin_token, split_token,
)

__all__ = [
    "ADMIN", "Catalog", "DatasetSpec", "Item", "MetaStore", "Principal", "TenantInfo",
    "TokenStore", "VersionedItems", "check_name", "generate_admin_token", "normalise_spec",
    "split_token",
]
