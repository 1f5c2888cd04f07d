"""Ballots granted to a coordinator with its last commit on a key: the next
compare-and-set it coordinates there skips the prepare (Multi-Paxos's stable leader,
per key and short-lived).

A compare-and-set's commit asks each replica to promise a fresh ballot of the
coordinator's; a replica grants it only if nothing above the committed ballot was
promised there (``paxos_replica.py``). When a quorum of the key's replicas granted
it, the coordinator keeps the ballot with the value it committed (a ``Grant``, at
most ``GRANT_TTL_S``). Its next compare-and-set on the key checks the condition
against that value and goes straight to propose/accept under the granted ballot; a
replica accepts such a proposal only while the grant is still its highest promise
and its stored record is no newer than that commit. So a quorum accepting it proves
no other round (and no quorum-acknowledged plain write) touched the key in between:
the value checked is still the current one. Anything else — a refusal, a failed
condition (the cached value cannot prove a failure), a changed replica set, a value
with a TTL — and the full round runs (``paxos.py``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from manhattan.storage import Entry, Version

# A granted ballot is used within this long or not at all: the value written under it
# is versioned with it, and a version should not lag the clock by more.
GRANT_TTL_S = 1.0
# Keys whose granted ballot a coordinator keeps at most (the least recently granted go).
MAX_GRANTS = 4096

GrantKey = tuple[str, bytes, bytes]  # (storage id, pkey, lkey)


@dataclass(frozen=True, slots=True)
class Grant:
    """A ballot a quorum of the key's replicas (``replicas``) promised this coordinator
    with its commit of ``after`` (the value ``committed``), granted at ``at``
    (monotonic seconds)."""

    ballot: Version
    after: Version
    committed: Entry | None
    replicas: tuple[int, ...]
    at: float


class Grants:
    """One coordinator's granted ballots, by key; each is used by one round at most."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._grants: OrderedDict[GrantKey, Grant] = OrderedDict()

    def take(self, key: GrantKey, replicas: tuple[int, ...]) -> Grant | None:
        """The key's grant, taken, if still fresh and granted by ``replicas`` (the
        key's replica set now)."""
        grant = self._grants.pop(key, None)
        if grant is None or self._clock() - grant.at > GRANT_TTL_S:
            return None
        return grant if grant.replicas == replicas else None

    def keep(self, key: GrantKey, ballot: Version, after: Version, committed: Entry | None,
             replicas: tuple[int, ...]) -> None:
        """Remember a ballot a quorum of ``replicas`` just granted."""
        self._grants[key] = Grant(ballot, after, committed, replicas, self._clock())
        self._grants.move_to_end(key)
        while len(self._grants) > MAX_GRANTS:
            self._grants.popitem(last=False)

    def __len__(self) -> int:
        return len(self._grants)


__all__ = ["GRANT_TTL_S", "MAX_GRANTS", "Grant", "GrantKey", "Grants"]
