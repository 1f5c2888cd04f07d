"""Enumerations shared by the node, the SDK and the CLI (values match the proto)."""

from __future__ import annotations

from enum import IntEnum


class Consistency(IntEnum):
    """How many replicas must answer: ONE, a QUORUM (N//2+1) or ALL."""

    DEFAULT = 0
    ONE = 1
    QUORUM = 2
    ALL = 3

    @classmethod
    def parse(cls, text: str) -> "Consistency":
        """From a name such as 'quorum' (case-insensitive)."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(c.name.lower() for c in cls if c is not cls.DEFAULT)
            raise ValueError(f"unknown consistency {text!r}; expected one of {names}") from None


class Durability(IntEnum):
    """BUFFERED: in the WAL, survives a process crash; SYNC: fsynced before the ack."""

    DEFAULT = 0
    BUFFERED = 1
    SYNC = 2

    @classmethod
    def parse(cls, text: str) -> "Durability":
        """From a name such as 'sync' (case-insensitive)."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown durability {text!r}; expected buffered or sync") from None
