"""The coordinator's side of the SDK's session clock.

A client sends the highest HLC timestamp it has seen (``x-manhattan-session``);
the node absorbs it before it stamps anything, so a write that starts after an
acknowledged operation gets a higher timestamp than that operation's, however
far behind this node's wall clock is (up to ``clock.max_skew_ms``). Every Data
answer carries the node's HLC back (``x-manhattan-hlc``, trailing metadata).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from manhattan.errors import InvalidRequest
from manhattan.hlc import REPLY_KEY, SESSION_KEY, HybridClock

_MAX = (1 << 64) - 1


def absorb_session(clock: HybridClock, metadata: Iterable[tuple[str, str | bytes]] | None
                   ) -> None:
    """Absorb the caller's session timestamp, if it sent one.

    Raises InvalidRequest for a malformed value and ClockSkewError (an
    InvalidRequest) for one further ahead of this node's clock than allowed."""
    for key, value in metadata or ():
        if key != SESSION_KEY:
            continue
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
        if not text.isdigit() or int(text) > _MAX:
            raise InvalidRequest(f"{SESSION_KEY} must be an unsigned 64-bit integer "
                                 f"(an HLC timestamp), got {text[:40]!r}")
        clock.observe(int(text))
        return


def reply_trailers(clock: HybridClock) -> Callable[[], tuple[tuple[str, str], ...]]:
    """The trailing metadata of every successful Data answer: the node's HLC."""
    def trailers() -> tuple[tuple[str, str], ...]:
        return ((REPLY_KEY, str(clock.current())),)
    return trailers
