"""How many replicas must answer, and waiting for the first of them.

A write (or a trim) is sent to every replica at once and answered once enough
acknowledged; the slower replicas still finish, in the background, so that what
they apply is not cut off by the client's answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from manhattan.cluster.membership import Membership
from manhattan.cluster.topology import Member
from manhattan.errors import Unavailable
from manhattan.types import Consistency

T = TypeVar("T")


def required_acks(level: Consistency, replicas: int) -> int:
    """How many replicas must answer at ``level`` out of ``replicas``."""
    if level == Consistency.ONE:
        return 1
    if level == Consistency.ALL:
        return replicas
    return replicas // 2 + 1


def may_coordinate(refusal: Callable[[], str | None] | None) -> None:
    """Unavailable (nothing sent) while this node must not coordinate writes: its clock
    runs far ahead of its peers' (``refusal`` says why, or returns None)."""
    reason = refusal() if refusal is not None else None
    if reason is not None:
        raise Unavailable(reason)


def write_acks(membership: Membership, pkey: bytes, replicas: tuple[Member, ...],
               replication_factor: int, level: Consistency) -> int:
    """Acknowledgements a write to ``pkey`` needs from its write ``replicas``: owners-to-be
    of a range in motion (pending) must ack too, so a write acknowledged during a join
    or decommission is on its new owner when it takes over."""
    pending = 0 if membership.future_ring is None else \
        len(replicas) - len(membership.replicas(pkey, replication_factor))
    return required_acks(level, len(replicas) - pending) + pending


async def await_answers(attempts: Sequence[asyncio.Future[T | None]],
                        enough: Callable[[], bool], take: Callable[[T], None],
                        timeout: float, spawn: Callable[[Awaitable[object]], None]) -> None:
    """Hand each answer (None: that replica did not answer) to ``take`` as it arrives,
    until ``enough()`` holds or ``timeout`` passes; attempts still running are handed
    to ``spawn`` and finish in the background."""
    try:
        if not enough() and attempts:
            for finished in asyncio.as_completed(attempts, timeout=timeout):
                answer = await finished
                if answer is not None:
                    take(answer)
                    if enough():
                        break
    except TimeoutError:
        pass
    finally:
        for attempt in attempts:
            if not attempt.done():
                spawn(attempt)
