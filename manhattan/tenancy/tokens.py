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
from dataclasses import asdict, dataclass

from manhattan.tenancy.items import VersionedItems

ADMIN = "*admin*"
_PREFIX = "mh"
_ITEM_PREFIX = "token/"


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
    """Issues and verifies tokens; their hashes live in the replicated catalog items."""

    def __init__(self, items: VersionedItems) -> None:
        self._items = items
        self._records: dict[str, TokenRecord] = {}
        self.reload()

    def reload(self) -> None:
        """Rebuild the in-memory view after the items changed (e.g. a merge)."""
        self._records = {
            token_id: TokenRecord(**json.loads(raw))
            for token_id, raw in self._items.live(_ITEM_PREFIX)
        }

    def issue(self, tenant: str, version: int, now_ms: int) -> str:
        """Create a token for ``tenant`` and return it (the only time it is seen)."""
        token = generate_token()
        self.install(token, tenant, version, now_ms)
        return token

    def install(self, token: str, tenant: str, version: int, now_ms: int) -> None:
        """Accept a token made elsewhere (the admin token from configuration)."""
        parts = split_token(token)
        if parts is None:
            raise ValueError("token must look like mh_<id>_<secret>")
        token_id, secret = parts
        existing = self._records.get(token_id)
        if existing is not None and existing.secret_sha256 == _hash(secret):
            return
        record = TokenRecord(token_id, tenant, _hash(secret), now_ms)
        self._items.put(_ITEM_PREFIX + token_id, json.dumps(asdict(record)).encode(), version)
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


def generate_token() -> str:
    """A fresh random token (``mh_<id>_<secret>``)."""
    return f"{_PREFIX}_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


generate_admin_token = generate_token  # a cluster's admin token is just a fresh token
