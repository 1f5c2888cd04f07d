"""The Manhattan SDK: ``from manhattan.client import Client, AsyncClient``."""

from manhattan.client.aio import AsyncAdmin, AsyncClient, AsyncDataset
from manhattan.client.breaker import BreakerPolicy, Breakers, BreakerState
from manhattan.client.backoff import (
    Backoff, ConstantBackoff, EqualJitterBackoff, ExponentialBackoff, FullJitterBackoff,
    NoBackoff,
)
from manhattan.client.errors import (
    AlreadyExists, Cancelled, ConditionFailed, ConnectionLost, InternalError, InvalidRequest, ManhattanError,
    MultiPartError, NodeUnreachable, NotFound, PartOutcome, PermissionDenied, QuotaExceeded,
    ReplicasUnavailable, StaleTopology, Timeout, Unauthenticated, Unavailable,
)
from manhattan.client.models import (
    ClusterTopology, DatasetInfo, Delete, MemberInfo, MetadataStatus, NodeInfo, Put, Record, ScanPage, Tenant,
    TrimResult, Version,
)
from manhattan.client.models import AuditEntry, Limits, TenantDescription, TokenInfo
from manhattan.client.models import CounterAdded
from manhattan.security.tls import TlsFiles
from manhattan.client.models import SnapshotInfo
from manhattan.client.policies import RoundRobinPolicy, RoutingPolicy, TokenAwarePolicy
from manhattan.client.retry import RetryDecision, RetryPolicy
from manhattan.client.sync import Admin, Client, Dataset
from manhattan.client.ops import ClusterOps, MembershipProgress, NodeTransfer, RepairProgress
from manhattan.client.topology import TopologyCache
from manhattan.types import Consistency, Durability

__all__ = [
    "ClusterOps", "MembershipProgress", "NodeTransfer", "RepairProgress",
    "Admin", "AlreadyExists", "AsyncAdmin", "AsyncClient", "AsyncDataset", "BreakerPolicy",
    "BreakerState", "Breakers", "Cancelled", "Client", "ClusterTopology", "Consistency", "Dataset",
    "DatasetInfo", "Delete", "Durability", "InternalError", "InvalidRequest", "ManhattanError",
    "MemberInfo", "MetadataStatus", "NodeInfo", "NotFound", "PermissionDenied", "Put", "QuotaExceeded", "Record",
    "RetryPolicy", "RoundRobinPolicy", "RoutingPolicy", "ScanPage", "StaleTopology", "Tenant",
    "Timeout", "TokenAwarePolicy", "TopologyCache", "Unauthenticated", "Unavailable", "Version",
    "AuditEntry", "Limits", "TenantDescription", "TlsFiles", "TokenInfo",
    "SnapshotInfo", "TrimResult", "CounterAdded",
    "Backoff", "ConstantBackoff", "EqualJitterBackoff", "ExponentialBackoff",
    "FullJitterBackoff", "NoBackoff", "RetryDecision",
    "ConditionFailed", "ConnectionLost", "MultiPartError", "NodeUnreachable", "PartOutcome", "ReplicasUnavailable",
]
