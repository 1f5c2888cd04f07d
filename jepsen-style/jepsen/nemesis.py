"""Faults, scheduled from a seed, and the thread that applies and heals them.

A schedule is a list of ``Fault(kind, start, duration, targets, params)``: the same seed
(and duration, node count, kinds) gives the same schedule. Faults run one at a time
with quiet gaps between them; each ends by healing what it did. Every run ends with
``heal_all``: network healed, clocks zeroed, paused nodes resumed, dead nodes restarted.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from manhattan.client import ManhattanError

from jepsen.cluster import Cluster
from jepsen.membership import (
    AGREE_TIMEOUT_S, CHANGE_TIMEOUT_S, ChangeIncomplete, change_membership, concurrent_adds, driver_killed, driver_killed_then_aborted, remove_node, replace_node, restore,
)
from jepsen.net import Link

log = logging.getLogger("jepsen.nemesis")

PARTITIONS = ["partition-one", "partition-majority", "partition-ring", "partition-bridge",
              "partition-oneway"]
CRASHES = ["kill-one", "kill-two", "kill-coordinator", "pause"]
CLOCKS = ["clock-bump", "clock-strobe", "clock-restart"]
NETWORK = ["netem"]
MEMBERSHIP = ["membership", "member-replace", "member-remove", "member-concurrent",
              "member-driver-kill", "member-driver-abort"]
ALL_KINDS = PARTITIONS + CRASHES + CLOCKS + NETWORK + MEMBERSHIP


@dataclass
class Fault:
    """One scheduled fault; ``started``/``ended`` are filled in when it runs (history time)."""

    kind: str
    start: float
    duration: float
    targets: list[int]
    params: dict[str, Any] = field(default_factory=dict)
    started: float | None = None
    ended: float | None = None
    note: str = ""
    result: dict[str, Any] = field(default_factory=dict)  # what a membership change did

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _links_between(a: list[int], b: list[int]) -> list[Link]:
    return [(x, y) for x in a for y in b] + [(y, x) for x in a for y in b]


def partition_links(kind: str, nodes: list[int], targets: list[int]) -> list[Link]:
    """Directed links to cut for a partition kind (``targets`` = the nodes it centres on)."""
    others = [n for n in nodes if n not in targets]
    if kind in ("partition-one", "partition-majority"):
        return _links_between(targets, others)
    if kind == "partition-bridge":
        # two halves that only the bridge node (targets[0]) joins
        rest = [n for n in nodes if n != targets[0]]
        half = len(rest) // 2
        return _links_between(rest[:half], rest[half:])
    if kind == "partition-ring":
        # each node hears only its ring neighbours, k on each side: itself + 2k >= a
        # majority, and neighbouring majorities overlap; with three nodes every node is a
        # neighbour of every other, so nothing is cut
        n = len(nodes)
        k = -(-(n // 2) // 2)
        links: list[Link] = []
        for i, x in enumerate(nodes):
            near = {nodes[(i + d) % n] for d in range(-k, k + 1)}
            links += [(y, x) for y in nodes if y not in near]
        return links
    if kind == "partition-oneway":
        # targets[0] hears nothing from the others; what it sends still arrives
        return [(o, targets[0]) for o in others]
    raise ValueError(kind)


def make_schedule(seed: int, duration: float, nodes: list[int], kinds: list[str], *,
                  fault_s: tuple[float, float] = (3.0, 6.0), gap_s: tuple[float, float] = (2.0, 4.0),
                  pause_s: float = 4.0) -> list[Fault]:
    """Faults from ``kinds`` in a seeded order until ``duration``; each kind at least once when
    time allows (a shuffled round of kinds, then another)."""
    rng = random.Random(seed)
    faults: list[Fault] = []
    t = rng.uniform(*gap_s)
    rounds = 0
    changes = 0
    while rounds < 100:
        rounds += 1
        order = list(kinds)
        rng.shuffle(order)
        for kind in order:
            length = pause_s if kind == "pause" else rng.uniform(*fault_s)
            if t + length > duration:
                return faults
            n = len(nodes)
            if kind == "kill-two" or kind == "partition-majority" and n > 3:
                targets = rng.sample(nodes, max(2, (n - 1) // 2) if kind == "kill-two" else (n - 1) // 2)
            else:
                targets = [rng.choice(nodes)]
            params: dict[str, Any] = {}
            if kind == "clock-bump":
                params["offset_ms"] = rng.choice([-1, 1]) * rng.randint(500, 5000)
            elif kind == "clock-restart":
                # restarted with its clock stepped back: below timestamps it issued
                params["offset_ms"] = -rng.randint(2000, 8000)
            elif kind == "clock-strobe":
                params["offset_ms"] = rng.randint(500, 3000)
                params["period_s"] = 0.2
            elif kind == "netem":
                params["loss"] = 0.2
                params["delay_ms"] = 50
            elif kind == "membership":
                # add a fresh spare node, then (next time) decommission it; its id is known
                # when it runs
                params["action"] = "add" if changes % 2 == 0 else "decommission"
                changes += 1
                targets = []
            elif kind == "member-concurrent":
                targets = []
            faults.append(Fault(kind, round(t, 3), round(length, 3), sorted(targets), params))
            t += length + rng.uniform(*gap_s)
    return faults


class Nemesis:
    """Runs a schedule against a cluster in a thread; records what it did on each Fault."""

    def __init__(self, cluster: Cluster, schedule: list[Fault], now: Callable[[], float],
                 kill_after_ack: Callable[[int], bool] | None = None) -> None:
        self.cluster = cluster
        self.schedule = schedule
        self.now = now
        self.kill_after_ack = kill_after_ack
        self.stop_event = threading.Event()
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, daemon=True, name="nemesis")

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def stop(self) -> None:
        """Stop after the fault in progress (a membership change may need its whole
        deadline, twice when resumed, before it returns)."""
        self.stop_event.set()
        self._thread.join(CHANGE_TIMEOUT_S * 2 + AGREE_TIMEOUT_S + 30)
        if self._thread.is_alive():
            self.errors.append("nemesis still busy after its stop deadline")

    def _sleep_until(self, t: float) -> bool:
        """False if stopped first."""
        return not self.stop_event.wait(max(t - self.now(), 0.0))

    def _run(self) -> None:
        for fault in self.schedule:
            if not self._sleep_until(fault.start):
                return
            try:
                fault.started = self.now()
                self._apply(fault)
            except (ManhattanError, ChangeIncomplete) as exc:
                if fault.kind not in MEMBERSHIP:
                    raise
                # the system did not finish a change it accepted: a finding, not a
                # harness error (the membership check fails on it)
                fault.result.setdefault("violations", []).append(
                    f"{fault.kind} {fault.params.get('action', '')} did not finish: "
                    f"{type(exc).__name__}: {str(exc)[:160]}")
                fault.result.pop("pending", None)
            except Exception as exc:  # a nemesis bug must not leave faults behind
                self.errors.append(f"{fault.kind}: {exc!r}")
                log.exception("fault %s failed", fault.kind)
            finally:
                try:
                    self._heal(fault)
                except Exception as exc:
                    self.errors.append(f"heal {fault.kind}: {exc!r}")
                fault.ended = self.now()

    def _apply(self, fault: Fault) -> None:
        c, net = self.cluster, self.cluster.net
        end = fault.started + fault.duration if fault.started is not None else self.now()
        kind = fault.kind
        # a scheduled target replaced or removed since stands for a current member
        fault.targets = list(dict.fromkeys(c.resolve(t) for t in fault.targets))
        if kind in PARTITIONS:
            links = partition_links(kind, list(c.nodes), fault.targets)
            fault.note = f"cut {len(links)} links" if links else "no link to cut with this node count"
            net.cut(links)
            self._sleep_until(end)
        elif kind in ("kill-one", "kill-two"):
            for t in fault.targets:
                c.nodes[t].kill()
            self._sleep_until(end)
        elif kind == "kill-coordinator":
            target = fault.targets[0]
            acked = self.kill_after_ack(target) if self.kill_after_ack else False
            c.nodes[target].kill()
            fault.note = "killed right after an ack it coordinated" if acked else \
                "killed (no ack obtained first)"
            self._sleep_until(end)
        elif kind == "pause":
            for t in fault.targets:
                c.nodes[t].pause()
            self._sleep_until(end)
        elif kind == "clock-bump":
            for t in fault.targets:
                c.nodes[t].set_clock_offset(fault.params["offset_ms"])
            self._sleep_until(end)
        elif kind == "clock-restart":
            for t in fault.targets:
                c.nodes[t].kill()
                c.nodes[t].set_clock_offset(fault.params["offset_ms"])
                c.nodes[t].start()
            self._sleep_until(end)
        elif kind == "clock-strobe":
            flip = False
            for _ in range(10_000):  # bounded; ends at the fault's end
                if self.now() >= end or self.stop_event.is_set():
                    break
                flip = not flip
                for t in fault.targets:
                    c.nodes[t].set_clock_offset(fault.params["offset_ms"] if flip else 0)
                self.stop_event.wait(fault.params["period_s"])
        elif kind == "netem":
            fault.note = "; ".join(net.degrade(t, loss=fault.params["loss"],
                                               delay_ms=fault.params["delay_ms"])
                                   for t in fault.targets)
            self._sleep_until(end)
        elif kind == "membership":
            change_membership(c, fault, fault.params["action"])
            self._sleep_until(end)
        elif kind in MEMBER_CHANGES:
            MEMBER_CHANGES[kind](c, fault)
            self._sleep_until(end)
        else:
            raise ValueError(kind)

    def _heal(self, fault: Fault) -> None:
        c = self.cluster
        if fault.kind == "membership":
            if fault.result.get("pending"):  # interrupted: the same request resumes it
                change_membership(c, fault, fault.params["action"], resume=True)
            return
        if fault.kind in MEMBER_CHANGES:  # nodes it killed and did not replace come back
            for node in c.nodes.values():
                if not node.running:
                    node.start()
            return
        if fault.kind in PARTITIONS or fault.kind == "netem":
            c.net.heal()
        for t in fault.targets:
            node = c.nodes[t]
            node.resume()
            node.set_clock_offset(0)
            if not node.running:
                node.start()


MEMBER_CHANGES: dict[str, Callable[[Cluster, Fault], None]] = {
    "member-replace": replace_node, "member-remove": remove_node,
    "member-concurrent": concurrent_adds, "member-driver-kill": driver_killed,
    "member-driver-abort": driver_killed_then_aborted,
}


def heal_all(cluster: Cluster) -> list[dict[str, Any]]:
    """The end of every run: nothing cut, paused, skewed or down, and as many members as
    at the start (spares added or decommissioned: the convergence check reads every
    replica of every key). Returns what the membership restore did."""
    cluster.net.heal()
    cluster.restart_all()
    return restore(cluster, len(cluster.ids))
