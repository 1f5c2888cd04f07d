"""Membership nemeses: add, decommission, replace, remove, two changes at once, and the
change driver killed midway, all through the SDK's ``ClusterOps`` as an operator would.

A change is consumed to ``done`` through a current member; ``fault.result`` says what it
did (phases, ranges, records, epoch). Outcomes that break a promise (two overlapping
changes both accepted, members disagreeing on the topology afterwards, a change that
cannot be resumed from another node) go to ``result["violations"]`` and fail the
``membership`` check; a harness that cannot do its part raises (a harness error).
A change whose driver was killed is either resumed or aborted from another member.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from manhattan.client import (
    Client, ClusterOps, ManhattanError, MembershipProgress, NodeUnreachable,
)

from jepsen.cluster import Cluster, Node

if TYPE_CHECKING:
    from jepsen.nemesis import Fault

CHANGE_TIMEOUT_S = 60.0  # one membership change, streaming included (gRPC deadline)
AGREE_TIMEOUT_S = 15.0
# a resume after the driver was killed: a change that can resume moves at once; one that
# cannot must not eat the run's schedule (two full deadlines did: ~190 s of a 240 s run)
RESUME_TIMEOUT_S = 20.0
RESUME_ATTEMPTS = 3
Changes = Callable[[ClusterOps], Iterator[MembershipProgress]]


class ChangeIncomplete(RuntimeError):
    """A change's progress stream ended without ``done``."""


class _DriverKilled(Exception):
    """Raised from the progress callback: the harness killed the change's driver."""


def run_change(cluster: Cluster, changes: Changes, result: dict[str, Any], *,
               via: list[str] | None = None,
               on_event: Callable[[MembershipProgress], None] | None = None,
               timeout: float = CHANGE_TIMEOUT_S) -> MembershipProgress:
    """Consume a change's progress stream, noting when each phase began (seconds after
    the change started); raises unless it reaches ``done``."""
    started = time.monotonic()
    last: MembershipProgress | None = None
    endpoints = via or [n.address for n in cluster.nodes.values()]
    with Client(endpoints, token=cluster.token, timeout=10) as client:
        for event in changes(ClusterOps(client, timeout=timeout)):
            last = event
            result.setdefault("phases_s", {}).setdefault(
                event.phase, round(time.monotonic() - started, 2))
            if on_event is not None:
                on_event(event)
    result["change_s"] = round(time.monotonic() - started, 2)
    if last is None or not last.done:
        raise ChangeIncomplete(f"membership change ended without 'done' (last: {last})")
    result.update(epoch=last.epoch, records=last.records, bytes=last.bytes,
                  ranges=last.ranges_total, message=last.message)
    return last


def _spare(cluster: Cluster, fault: Fault) -> Node | None:
    try:
        return cluster.start_spare()
    except NotImplementedError as exc:  # proxy mode: no host of its own for it
        fault.note = f"skipped: {exc}"
        return None


def change_membership(cluster: Cluster, fault: Fault, action: str, *, resume: bool = False
                      ) -> None:
    """``add`` a fresh spare node or ``decommission`` the spare that is a member (``resume``:
    the same request again, which finishes an interrupted change)."""
    c, r = cluster, fault.result
    if action == "add":
        if resume:
            node = next(n for n in c.retired if n.id == fault.targets[0])
        else:
            spare = _spare(c, fault)
            if spare is None:
                return
            node = spare
        fault.targets = [node.id]
        r["pending"] = True
        run_change(c, lambda ops: ops.add_node(node.address), r)
        c.nodes[node.id] = node
        del r["pending"]
        fault.note = (f"added node {node.id}: {r['ranges']} ranges, {r['records']} records "
                      f"streamed in {r['change_s']} s")
    elif action == "decommission":
        spares = c.spares()
        if not spares and not resume:
            fault.note = "skipped: no spare is a member (its add was skipped or failed)"
            return
        node_id = fault.targets[0] if resume else spares[0]
        fault.targets = [node_id]
        r["pending"] = True
        run_change(c, lambda ops: ops.decommission(node_id), r)
        del r["pending"]
        c.nodes.pop(node_id).stop()  # out of the topology: it serves nothing any more
        fault.note = (f"decommissioned node {node_id}: {r['ranges']} ranges, {r['records']} "
                      f"records streamed in {r['change_s']} s")
    else:
        raise ValueError(action)


def replace_node(cluster: Cluster, fault: Fault) -> None:
    """SIGKILL the target, then replace it with a fresh node."""
    c, r = cluster, fault.result
    dead = fault.targets[0]
    c.nodes[dead].kill()
    spare = _spare(c, fault)
    if spare is None:
        return
    r["pending"] = True
    via = next(n.address for i, n in c.nodes.items() if i != dead)
    run_change(c, lambda ops: ops.replace(dead, spare.address, via=via), r, via=[via])
    del r["pending"]
    c.retired.append(c.nodes.pop(dead))
    c.nodes[spare.id] = spare
    fault.targets = [dead, spare.id]
    fault.note = (f"replaced killed node {dead} by node {spare.id}: {r['ranges']} ranges, "
                  f"{r['records']} records in {r['change_s']} s")


def remove_node(cluster: Cluster, fault: Fault) -> None:
    """SIGKILL the target, then remove it (the survivors re-replicate its ranges)."""
    c, r = cluster, fault.result
    dead = fault.targets[0]
    if len(c.nodes) <= c.rf:
        fault.note = f"skipped: {len(c.nodes)} members, removing one would leave fewer than RF"
        return
    c.nodes[dead].kill()
    r["pending"] = True
    via = next(n.address for i, n in c.nodes.items() if i != dead)
    run_change(c, lambda ops: ops.remove(dead, via=via), r, via=[via])
    del r["pending"]
    c.retired.append(c.nodes.pop(dead))
    fault.note = f"removed killed node {dead}: {r['ranges']} ranges re-replicated in {r['change_s']} s"


def concurrent_adds(cluster: Cluster, fault: Fault) -> None:
    """Two spares added at the same moment through two different members: at most one
    change may be accepted while the other runs (changes run one at a time)."""
    c, r = cluster, fault.result
    spares = [s for s in (_spare(c, fault), _spare(c, fault)) if s is not None]
    if len(spares) < 2:
        return
    drivers = sorted(c.nodes)[:2]
    outcomes: dict[int, dict[str, Any]] = {}

    def one(spare: Node, driver: int) -> None:
        out = outcomes[spare.id] = {"via": driver, "started": time.monotonic()}
        try:
            address = c.nodes[driver].address
            run_change(c, lambda ops: ops.add_node(spare.address, via=address), out,
                       via=[address])
            out["done"] = True
        except (ManhattanError, RuntimeError) as exc:
            out["done"], out["error"] = False, f"{type(exc).__name__}: {str(exc)[:160]}"
        out["ended"] = time.monotonic()
    threads = [threading.Thread(target=one, args=(s, d)) for s, d in zip(spares, drivers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(CHANGE_TIMEOUT_S + 10)
    accepted = [i for i, o in outcomes.items() if o.get("done")]
    for spare in spares:  # the others keep running: a change that timed out may still
        if spare.id in accepted:  # list them (they are stopped at the end, with every node)
            c.nodes[spare.id] = spare
    a, b = (outcomes[s.id] for s in spares)
    overlapped = a["started"] < b.get("ended", 1e18) and b["started"] < a.get("ended", 1e18)
    if len(accepted) == 2 and overlapped:
        r.setdefault("violations", []).append(
            f"two overlapping changes both accepted: add {spares[0].id} via {drivers[0]} "
            f"and add {spares[1].id} via {drivers[1]}")
    r["outcomes"] = {str(k): {x: y for x, y in v.items() if x not in ("started", "ended")}
                     for k, v in outcomes.items()}
    fault.targets = [s.id for s in spares]
    fault.note = f"two adds at once via nodes {drivers}: accepted {accepted or 'none'}"
    agree_topology(c, r)


def _add_then_kill_driver(cluster: Cluster, driver: int, spare: Node,
                          result: dict[str, Any]) -> list[str]:
    """Add ``spare`` through ``driver`` and SIGKILL the driver once the change is under
    way (at once if it finished first); the other members' addresses."""
    c, r = cluster, result
    killed = threading.Event()

    def kill_once(event: MembershipProgress) -> None:
        if not killed.is_set() and event.phase not in ("", "starting"):
            killed.set()
            c.nodes[driver].kill()
            raise _DriverKilled  # its stream is gone: stop reading it at once
    try:
        address = c.nodes[driver].address
        run_change(c, lambda ops: ops.add_node(spare.address, via=address), {}, via=[address],
                   on_event=kill_once)
        r["killed_midway"] = killed.is_set()
    except _DriverKilled:
        r["killed_midway"] = True
    except (ManhattanError, RuntimeError) as exc:
        r["killed_midway"], r["interrupted"] = killed.is_set(), str(exc)[:160]
    if not killed.is_set():
        c.nodes[driver].kill()
    return [n.address for i, n in c.nodes.items() if i != driver]


def driver_killed(cluster: Cluster, fault: Fault) -> None:
    """Add a spare through the target, SIGKILL the target once the change is under way,
    then resume it from another member (the abort is ``driver_killed_then_aborted``)."""
    c, r = cluster, fault.result
    driver = fault.targets[0]
    spare = _spare(c, fault)
    if spare is None:
        return
    others = _add_then_kill_driver(c, driver, spare, r)
    try:
        _resume_through(c, lambda ops: ops.add_node(spare.address, via=others[0]), r,
                        others[0])
        c.nodes[spare.id] = spare
        r["resumed_via"] = others[0]
        fault.note = (f"driver node {driver} killed midway; add of node {spare.id} resumed "
                      f"from another member in {r['change_s']} s")
    except (ManhattanError, RuntimeError) as exc:
        r.setdefault("violations", []).append(
            f"add of node {spare.id} not resumable from another member after its driver "
            f"{driver} was killed: {str(exc)[:160]}")
        # unjam the run: the same command through the restarted driver
        c.nodes[driver].start()
        try:
            address = c.nodes[driver].address
            _through_restarted(c, lambda ops: ops.add_node(spare.address, via=address), r,
                               address)
            c.nodes[spare.id] = spare
            r["resumed_via"] = c.nodes[driver].address
            fault.note = (f"driver node {driver} killed midway; resume from another member "
                          f"failed, through the restarted driver it finished")
        except (ManhattanError, RuntimeError) as again:
            # the spare keeps running: the stuck change lists it as joining, and may still
            # finish; a member for the restore and the convergence reads either way (seed
            # 143000543: it did finish, and the replica reads found node 7 untracked)
            c.nodes[spare.id] = spare
            r["violations"].append(f"add of node {spare.id} not resumable through its "
                                   f"restarted driver either: {str(again)[:160]}")
            fault.note = f"driver node {driver} killed midway; resume failed"
    fault.targets = [driver, spare.id]
    c.nodes[driver].start()
    agree_topology(c, r)


def driver_killed_then_aborted(cluster: Cluster, fault: Fault) -> None:
    """Add a spare through the target, SIGKILL the target once the change is under way,
    then abort the change from another member: the members before it, agreed by all, and
    the spare out. A change that finished before the kill cannot be aborted ("no change
    under way"): the spare is then a member, as after any add."""
    c, r = cluster, fault.result
    driver = fault.targets[0]
    spare = _spare(c, fault)
    if spare is None:
        return
    before = sorted(c.nodes)
    others = _add_then_kill_driver(c, driver, spare, r)
    try:
        _resume_through(c, lambda ops: ops.abort(via=others[0]), r, others[0])
        aborted = True
    except (ManhattanError, RuntimeError) as exc:
        # "no change under way": it finished before the kill, or an earlier attempt of
        # the abort did (its answer lost): the topology tells which
        nothing_under_way = "no membership change is under way" in str(exc)
        aborted = nothing_under_way and spare.id not in _member_ids(c, others[0])
        if not nothing_under_way:
            r.setdefault("violations", []).append(
                f"add of node {spare.id} not abortable from another member after its "
                f"driver {driver} was killed: {str(exc)[:160]}")
    if aborted:
        r["aborted_via"] = others[0]
        fault.note = (f"driver node {driver} killed midway; the add of node {spare.id} "
                      f"aborted from another member")
        spare.stop()
    else:
        r["aborted_via"] = None
        c.nodes[spare.id] = spare  # a member (or stuck joining: restore settles it)
        fault.note = f"driver node {driver} killed; the add of node {spare.id} not aborted"
    fault.targets = [driver, spare.id]
    c.nodes[driver].start()
    agree_topology(c, r)
    if aborted and r.get("topology_agreed"):
        members = _member_ids(c, others[0])
        if members != before:
            r.setdefault("violations", []).append(
                f"after the abort the members are {members}, not those before the change "
                f"{before}")


def _member_ids(cluster: Cluster, address: str) -> list[int]:
    """The members' ids in the topology ``address`` reports."""
    with Client([address], token=cluster.token, timeout=5) as client:
        return sorted(m.id for m in client.admin.topology().members)


def _resume_through(cluster: Cluster, changes: Changes, result: dict[str, Any],
                    address: str) -> None:
    """The same command through ``address``, as an operator reruns it: up to
    RESUME_ATTEMPTS times, each bounded by RESUME_TIMEOUT_S (a change streaming under
    load can outlast one deadline; every rerun resumes it, and one after it finished
    answers done). The last failure is raised."""
    for attempt in range(1, RESUME_ATTEMPTS + 1):
        result["resume_attempts"] = attempt
        try:
            run_change(cluster, changes, result, via=[address], timeout=RESUME_TIMEOUT_S)
            return
        except (ManhattanError, RuntimeError):
            if attempt == RESUME_ATTEMPTS:
                raise


def _through_restarted(cluster: Cluster, changes: Changes, result: dict[str, Any],
                       address: str) -> None:
    """A change through a node just restarted: gRPC's shared subchannel to it may still be
    in its reconnect backoff from while it was down, so a refusal to connect (the SDK's
    ``NodeUnreachable``: nothing was sent) is retried for a few seconds (bounded) before it
    counts. Told by type: the text changed once ("failed to connect" became "cannot
    connect to ..."), and seed 143000543 then counted a node still starting as a failure."""
    for attempt in range(5):
        try:
            run_change(cluster, changes, result, via=[address], timeout=RESUME_TIMEOUT_S)
            return
        except NodeUnreachable:
            if attempt == 4:
                raise
            time.sleep(1.0)


def agree_topology(cluster: Cluster, result: dict[str, Any]) -> None:
    """Every running member reports the same epoch and members (bounded wait)."""
    deadline = time.monotonic() + AGREE_TIMEOUT_S
    views: dict[int, Any] = {}
    while time.monotonic() < deadline:
        views = {}
        for i, node in cluster.nodes.items():
            if not node.running:
                continue
            try:
                with Client([node.address], token=cluster.token, timeout=2) as client:
                    t = client.admin.topology()
                views[i] = (t.epoch, tuple(sorted((m.id, m.state) for m in t.members)))
            except ManhattanError as exc:
                views[i] = ("unreachable", str(exc)[:60])
        if len(set(views.values())) == 1:
            result["topology_agreed"] = True
            result["agreed_epoch"] = next(iter(views.values()))[0]
            return
        time.sleep(0.5)
    result["topology_agreed"] = False
    result.setdefault("violations", []).append(f"members disagree on the topology: {views}")


def lost_epochs(acked: list[dict[str, Any]], final: dict[str, Any]) -> list[str]:
    """Changes acknowledged (``done``) at an epoch the members' final topology is behind:
    an acknowledged change the topology does not hold (lost, or never run)."""
    epoch = final.get("agreed_epoch")
    if not isinstance(epoch, int):
        return []
    return [f"change acknowledged at epoch {r['epoch']} (node {r.get('node')}), but the "
            f"members' final topology is at epoch {epoch}" for r in acked
            if isinstance(r.get("epoch"), int) and r["epoch"] > epoch]


def restore(cluster: Cluster, n: int) -> list[dict[str, Any]]:
    """After healing: back to ``n`` members (spares added or decommissioned)."""
    from jepsen.nemesis import Fault

    restored: list[dict[str, Any]] = []
    for _ in range(10):  # bounded
        if len(cluster.nodes) == n:
            break
        action = "add" if len(cluster.nodes) < n else "decommission"
        fault = Fault("membership", 0.0, 0.0, [], {"action": action})
        if action == "decommission":
            extra = cluster.spares() or sorted(cluster.nodes)[-1:]
            fault.targets = [extra[-1]]
        try:
            change_membership(cluster, fault, action, resume=action == "decommission")
        except (ManhattanError, ChangeIncomplete) as exc:  # the system's, not the harness's
            restored.append({"node": fault.targets[0] if fault.targets else None,
                             "violation": f"restoring {n} members ({action}) failed: "
                                          f"{type(exc).__name__}: {str(exc)[:160]}"})
            break
        restored.append({"node": fault.targets[0] if fault.targets else None,
                         "note": fault.note, **fault.result})
    return restored
