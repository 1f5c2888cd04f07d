"""Bearer tokens: random secrets shown once, stored as SHA-256 hashes.

A token reads ``mh_<id>_<secret>``. The id picks the stored record in a dict;
the secret's hash is then compared in constant time, so neither the lookup nor
the comparison leaks how much of a guessed secret was right.

A tenant may hold several tokens, each scoped: read-only or read-write, to all
of its datasets or to some. Tokens live in the replicated catalog items, so
issuing, revoking and rotating one reaches every node with the catalog push.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass, replace

from manhattan.errors import InvalidRequest, NotFound

from manhattan.tenancy.items import VersionedItems

ADMIN = "*admin*"
_PREFIX = "mh"
_ITEM_PREFIX = "token/"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token speaks for: a tenant, or the cluster admin."""

    tenant: str
    read_only: bool = False
    datasets: frozenset[str] | None = None
    """The datasets this token reaches; None: every dataset of the tenant."""
    token_id: str = ""
    tenant_incarnation: int = 0
    """The incarnation of the tenant the token was issued to: a tenant dropped and
    created again under its name is another tenant, which the token never reaches."""

    @property
    def is_admin(self) -> bool:
        """Whether this principal may make admin calls (and touch any dataset)."""
        return self.tenant == ADMIN

    def may_use(self, dataset: str) -> bool:
        """Whether the token's dataset scope includes ``dataset``."""
        return self.datasets is None or dataset in self.datasets


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What is stored of a token: never the secret, only its hash."""

    token_id: str
    tenant: str
    secret_sha256: str
    created_at_ms: int
    read_only: bool = False
    datasets: list[str] | None = None
    expires_at_ms: int = 0
    tenant_incarnation: int = 0

    @classmethod
    def from_json(cls, raw: bytes) -> "TokenRecord":
        """Parse the stored form; ValueError when it is not a token record."""
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a token record")
        try:
            record = cls(**data)
        except TypeError as exc:
            raise ValueError(f"not a token record: {exc}") from None
        if not (isinstance(record.token_id, str) and isinstance(record.tenant, str)
                and isinstance(record.secret_sha256, str) and len(record.secret_sha256) == 64
                and isinstance(record.created_at_ms, int) and isinstance(record.read_only, bool)
                and isinstance(record.expires_at_ms, int)
                and isinstance(record.tenant_incarnation, int)
                and (record.datasets is None or (isinstance(record.datasets, list) and all(
                    isinstance(d, str) for d in record.datasets)))):
            raise ValueError("token record has fields of the wrong type")
        return record

    def principal(self) -> Principal:
        """Who this token speaks for, with its scope."""
        return Principal(self.tenant, self.read_only,
                         None if self.datasets is None else frozenset(self.datasets),
                         self.token_id, self.tenant_incarnation)


MAX_VERIFIED_CACHED = 4096


def _expired(record: "TokenRecord") -> bool:
    return bool(record.expires_at_ms) and time.time() * 1000 >= record.expires_at_ms


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
        # token -> (the record it was checked against, its principal): a hit skips the
        # hash and the Principal build on every request. Valid while the record object
        # is still the current one (any change replaces or drops it); expiry is
        # checked on every call all the same.
        self._verified: dict[str, tuple[TokenRecord, Principal]] = {}
        self.reload()

    def reload(self) -> None:
        """Rebuild the in-memory view after the items changed (e.g. a merge)."""
        records = {}
        for token_id, raw in self._items.live(_ITEM_PREFIX):
            try:
                records[token_id] = TokenRecord.from_json(raw)
            except ValueError:
                continue  # merges are validated; never let one bad item lock everybody out
        self._records = records

    def issue(self, tenant: str, version: int, now_ms: int, *, read_only: bool = False,
              datasets: list[str] | None = None) -> str:
        """Create a token for ``tenant`` and return it (the only time it is seen)."""
        token = generate_token()
        self.install(token, tenant, version, now_ms, read_only=read_only, datasets=datasets)
        return token

    def install(self, token: str, tenant: str, version: int, now_ms: int, *,
                read_only: bool = False, datasets: list[str] | None = None) -> None:
        """Accept a token made elsewhere (the admin token from configuration)."""
        parts = split_token(token)
        if parts is None:
            raise ValueError("token must look like mh_<id>_<secret>")
        token_id, secret = parts
        existing = self._records.get(token_id)
        if existing is not None and existing.secret_sha256 == _hash(secret):
            return
        record = TokenRecord(token_id, tenant, _hash(secret), now_ms, read_only,
                             sorted(set(datasets)) if datasets else None)
        self._put(record, version)

    def put_record(self, record: TokenRecord, version: int) -> None:
        """Store a record made elsewhere (applied from the metadata log)."""
        self._put(record, version)

    def _put(self, record: TokenRecord, version: int) -> None:
        self._items.put(_ITEM_PREFIX + record.token_id, json.dumps(asdict(record)).encode(),
                        version)
        self._records[record.token_id] = record

    def record(self, token_id: str) -> TokenRecord:
        """The stored record of ``token_id``; NotFound otherwise."""
        record = self._records.get(token_id)
        if record is None:
            raise NotFound(f"token {token_id!r} does not exist (or was revoked)")
        return record

    def records(self, tenant: str | None = None) -> list[TokenRecord]:
        """Every live token record (optionally one tenant's), by tenant then id."""
        return sorted((r for r in self._records.values() if tenant is None or r.tenant == tenant),
                      key=lambda r: (r.tenant, r.token_id))

    def revoke(self, token_id: str, version: int) -> TokenRecord:
        """Forget a tenant token; every node refuses it once the catalog reaches it."""
        record = self.record(token_id)
        if record.tenant == ADMIN:
            raise InvalidRequest("the admin token is set in the nodes' configuration "
                                 "(node.admin_token), not revoked through the API")
        self._items.delete(_ITEM_PREFIX + token_id, version)
        del self._records[token_id]
        return record

    def rotate(self, token_id: str, version: int, now_ms: int, grace_ms: int = 0
               ) -> tuple[str, TokenRecord]:
        """A new token with the same tenant and scope; the old one is revoked at once
        (``grace_ms`` 0) or expires after ``grace_ms``. Returns (token, new record)."""
        old = self.record(token_id)
        if old.tenant == ADMIN:
            raise InvalidRequest("the admin token is set in the nodes' configuration "
                                 "(node.admin_token), not rotated through the API")
        token = self.issue(old.tenant, version, now_ms, read_only=old.read_only,
                           datasets=old.datasets)
        if grace_ms:
            expires = now_ms + grace_ms
            if not old.expires_at_ms or expires < old.expires_at_ms:
                self._put(replace(old, expires_at_ms=expires), version)
        else:
            self._items.delete(_ITEM_PREFIX + token_id, version)
            del self._records[token_id]
        new_id = split_token(token)[0]  # type: ignore[index]
        return token, self._records[new_id]

    def has_tenant_tokens(self, tenant: str) -> bool:
        """Whether any token speaks for ``tenant``."""
        return any(r.tenant == tenant for r in self._records.values())

    def verify(self, token: str) -> Principal | None:
        """The principal a token speaks for, or None when it is not valid."""
        known = self._verified.get(token)
        if known is not None:
            record, principal = known
            if self._records.get(record.token_id) is record and not _expired(record):
                return principal
            del self._verified[token]
        parts = split_token(token)
        if parts is None:
            return None
        token_id, secret = parts
        record = self._records.get(token_id)
        if record is None:
            return None
        if not hmac.compare_digest(record.secret_sha256, _hash(secret)):
            return None
        if _expired(record):
            return None
        principal = record.principal()
        if len(self._verified) >= MAX_VERIFIED_CACHED:
            self._verified.clear()  # bounded: a flood of distinct tokens cannot grow it
        self._verified[token] = (record, principal)
        return principal


def new_token(tenant: str, now_ms: int, *, read_only: bool = False,
              datasets: list[str] | None = None) -> tuple[str, TokenRecord]:
    """A fresh token and the record to store for it (its hash, never the secret)."""
    token = generate_token()
    token_id, secret = split_token(token)  # type: ignore[misc]
    return token, TokenRecord(token_id, tenant, _hash(secret), now_ms, read_only,
                              sorted(set(datasets)) if datasets else None)


def generate_token() -> str:
    """A fresh random token (``mh_<id>_<secret>``)."""
    return f"{_PREFIX}_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


generate_admin_token = generate_token  # a cluster's admin token is just a fresh token


def check_item(key: str, value: bytes) -> None:
    """ValueError unless a token item from a peer parses (other keys pass)."""
    if key.startswith(_ITEM_PREFIX):
        try:
            record = TokenRecord.from_json(value)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"token item {key!r} is malformed: {exc}") from None
        if record.token_id != key[len(_ITEM_PREFIX):]:
            raise ValueError(f"token item {key!r} does not match its key")
