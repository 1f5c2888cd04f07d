"""Rules for tenant and dataset names (they become RocksDB column families)."""

from __future__ import annotations

import re

from manhattan.errors import InvalidRequest

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def check_name(kind: str, name: str) -> str:
    """Return ``name`` if it is a valid tenant/dataset name, else raise InvalidRequest."""
    if not _NAME.match(name or ""):
        raise InvalidRequest(
            f"{kind} name {name!r} is invalid: use 1-63 characters, a lowercase letter "
            "first, then lowercase letters, digits, '_' or '-'"
        )
    return name
