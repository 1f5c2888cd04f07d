"""The cluster topology: a versioned (epoch) list of members.

Value types only; the ring and preference lists are derived from a Topology
in ring.py. A node persists the newest topology it has seen and gossips its
epoch, so the highest epoch wins everywhere.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from enum import Enum


class MemberState(str, Enum):
    """Where a member is in its life: only NORMAL (and LEAVING) members own ranges."""

    JOINING = "joining"
    NORMAL = "normal"
    LEAVING = "leaving"


@dataclass(frozen=True, slots=True)
class Member:
    """One storage node of the cluster."""

    id: int
    address: str
    zone: str = "default"
    weight: int = 1
    state: MemberState = MemberState.NORMAL

    @property
    def name(self) -> str:
        """The member's name on the hash ring."""
        return f"node-{self.id}"


@dataclass(frozen=True, slots=True)
class Topology:
    """Members at one epoch; a higher epoch supersedes a lower one."""

    epoch: int
    members: tuple[Member, ...] = field(default_factory=tuple)

    def member(self, node_id: int) -> Member | None:
        """The member with this id, if any."""
        return next((m for m in self.members if m.id == node_id), None)

    @property
    def owners(self) -> tuple[Member, ...]:
        """Members that own ranges on the ring (NORMAL and LEAVING)."""
        return tuple(m for m in self.members if m.state != MemberState.JOINING)

    def with_member(self, member: Member) -> "Topology":
        """A new epoch with ``member`` added or replaced."""
        others = tuple(m for m in self.members if m.id != member.id)
        return replace(self, epoch=self.epoch + 1,
                       members=tuple(sorted((*others, member), key=lambda m: m.id)))

    def to_json(self) -> bytes:
        """The persisted form."""
        return json.dumps({"epoch": self.epoch,
                           "members": [asdict(m) | {"state": m.state.value} for m in self.members]}
                          ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "Topology":
        """Parse the persisted form."""
        data = json.loads(raw)
        members = tuple(Member(**(m | {"state": MemberState(m["state"])})) for m in data["members"])
        return cls(int(data["epoch"]), members)
