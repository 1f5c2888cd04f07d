"""Cluster metadata by agreement: one replicated log (Raft, via pysyncobj) of tenants,
tokens, datasets and limits, applied in the same order on every node."""

from manhattan.metadata.log import LogSettings, MetadataLog, password_from_secret
from manhattan.metadata.mirror import Mirror
from manhattan.metadata.state import Applied, MetadataState, raise_for

__all__ = [
    "Applied", "LogSettings", "MetadataLog", "MetadataState", "Mirror",
    "password_from_secret", "raise_for",
]
