"""The storage-node daemon: gRPC services over the local engine."""

from manhattan.node.config import ConfigError, NodeConfig, load_config
from manhattan.node.server import StorageNode

__all__ = ["ConfigError", "NodeConfig", "StorageNode", "load_config"]
