"""Bearer tokens: random secrets shown once, stored as SHA-256 hashes.

A token reads ``mh_<id>_<secret>``. The id picks the stored record in a dict;
the secret's hash is then compared in constant time, so neither the lookup nor
the comparison leaks how much of a guessed secret was right.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import asdict, dataclass
from typing import Protocol

ADMIN = "*admin*"
_PREFIX = "mh"
_META_PREFIX = b"tenancy/token/"


class MetaStore(Protocol):
    """The node-local metadata store (RocksEngine's default column family)."""

    def meta_get(self, key: bytes) -> bytes | None: ...
    def meta_put(self, key: bytes, value: bytes) -> None: ...
    def meta_delete(self, key: bytes) -> None: ...
    def meta_items(self, prefix: bytes) -> list[tuple[bytes, bytes]]: ...


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token speaks for: a tenant, or the cluster admin."""

    tenant: str

    @property
    def is_admin(self) -> bool:
        """Whether this principal may make admin calls (and touch any dataset)."""
        return self.tenant == ADMIN


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What is stored of a token: never the secret, only its hash."""

    token_id: str
    tenant: str
    secret_sha256: str
    created_at_ms: int


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed token, else None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


class TokenStore:
    """Issues and verifies tokens; persisted in the metadata store."""

    def __init__(self, meta: MetaStore) -> None:
        self._meta = meta
        self._lock = threading.Lock()
        self._records: dict[str, TokenRecord] = {}
        for _, raw in meta.meta_items(_META_PREFIX):
            record = TokenRecord(**json.loads(raw))
            self._records[record.token_id] = record

    def issue(self, tenant: str, now_ms: int) -> str:
        """Create a token for ``tenant`` and return it (the only time it is seen)."""
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        self.install(f"{_PREFIX}_{token_id}_{secret}", tenant, now_ms)
        return f"{_PREFIX}_{token_id}_{secret}"

    def install(self, token: str, tenant: str, now_ms: int) -> None:
        """Accept a token made elsewhere (the admin token from configuration)."""
        parts = split_token(token)
        if parts is None:
            raise ValueError("token must look like mh_<id>_<secret>")
        token_id, secret = parts
        record = TokenRecord(token_id, tenant, _hash(secret), now_ms)
        with self._lock:
            existing = self._records.get(token_id)
            if existing is not None and existing.secret_sha256 == record.secret_sha256:
                return
            self._meta.meta_put(_META_PREFIX + token_id.encode(), json.dumps(asdict(record)).encode())
            self._records[token_id] = record

    def has_tenant_tokens(self, tenant: str) -> bool:
        """Whether any token speaks for ``tenant``."""
        return any(r.tenant == tenant for r in self._records.values())

    def verify(self, token: str) -> Principal | None:
        """The principal a token speaks for, or None when it is not valid."""
        parts = split_token(token)
        if parts is None:
            return None
        token_id, secret = parts
        record = self._records.get(token_id)
        if record is None:
            return None
        if not hmac.compare_digest(record.secret_sha256, _hash(secret)):
            return None
        return Principal(record.tenant)


def generate_admin_token() -> str:
    """A fresh admin token for a new cluster."""
    return f"{_PREFIX}_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
