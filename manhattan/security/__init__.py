"""Security beyond tokens: the audit log of admin actions, TLS settings and dev certificates."""

from manhattan.security.audit import AuditEntry, AuditLog

__all__ = ["AuditEntry", "AuditLog"]
