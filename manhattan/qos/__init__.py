"""Quality of service between tenants: rate limits (token buckets) and storage quotas."""

from manhattan.qos.bucket import TokenBucket
from manhattan.qos.gate import QosGate, StorageMeter
from manhattan.tenancy.limits import Limits, LimitStore

__all__ = ["Limits", "LimitStore", "QosGate", "StorageMeter", "TokenBucket"]
