"""A membership change's start, settled when a metadata leader change leaves its outcome
unknown: sent again, it commits now or is refused for the change it already started."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from manhattan.cluster.ranges import in_transition
from manhattan.cluster.topology import MemberState, Topology
from manhattan.errors import ManhattanError, Timeout

log = logging.getLogger("manhattan.cluster.changes")

BEGIN_ATTEMPTS = 4  # a change's start sent again after a leader change left it unknown
BEGIN_RETRY_S = 0.5


async def commit_settled(commit: Callable[[dict], Awaitable[None]], command: dict,
                         committed: Callable[[], bool],
                         refused: type[ManhattanError] = ManhattanError) -> None:
    """Commit a command that the log refuses once it has taken effect (a change's start:
    "another change is under way"), settling an unknown outcome by sending it again.

    A metadata leader change can leave a command's outcome unknown (Timeout). Sent
    again, it either commits now (the first one never did) or is refused (``refused``,
    the caller's refusal error); a refusal that ``committed()`` explains (the state shows
    the first one took effect) is success.
    Before this, a change that met an election answered "outcome unknown" and an operator
    had to run it again to find out (jepsen-style, seed 20261130, ``member-remove``)."""
    for attempt in range(BEGIN_ATTEMPTS):
        try:
            await commit(command)
            return
        except Timeout:
            if attempt == BEGIN_ATTEMPTS - 1:
                raise
            log.info("%s: outcome unknown (metadata leader change); sending it again",
                     command.get("op"))
            await asyncio.sleep(BEGIN_RETRY_S)
        except refused:
            if attempt and committed():
                return
            raise


def under_way(topology: Topology, planned: Topology) -> bool:
    """Whether ``topology`` is ``planned``'s change in transition (same members, states)."""
    def members(t: Topology) -> set[tuple[int, str, MemberState]]:
        return {(m.id, m.address, m.state) for m in t.members}
    return in_transition(topology) and members(topology) == members(planned)
