"""Manhattan: a multi-tenant, distributed key-value store."""

__version__ = "0.1.0"
