"""The Manhattan SDK: ``from manhattan.client import Client, AsyncClient``."""

from manhattan.client.aio import AsyncAdmin, AsyncClient, AsyncDataset
from manhattan.client.errors import (
    AlreadyExists, Cancelled, InternalError, InvalidRequest, ManhattanError, NotFound,
    PermissionDenied, QuotaExceeded, StaleTopology, Timeout, Unauthenticated, Unavailable,
)
from manhattan.client.models import (
    ClusterTopology, DatasetInfo, Delete, MemberInfo, NodeInfo, Put, Record, ScanPage, Tenant,
    Version,
)
from manhattan.client.policies import RetryPolicy, RoundRobinPolicy, RoutingPolicy
from manhattan.client.sync import Admin, Client, Dataset
from manhattan.types import Consistency, Durability

__all__ = [
    "Admin", "AlreadyExists", "AsyncAdmin", "AsyncClient", "AsyncDataset", "Cancelled", "Client",
    "ClusterTopology", "MemberInfo",
    "Consistency", "Dataset", "DatasetInfo", "Delete", "Durability", "InternalError",
    "InvalidRequest", "ManhattanError", "NodeInfo", "NotFound", "PermissionDenied", "Put",
    "QuotaExceeded", "Record", "RetryPolicy", "RoundRobinPolicy", "RoutingPolicy", "ScanPage",
    "StaleTopology", "Tenant", "Timeout", "Unauthenticated", "Unavailable", "Version",
]
