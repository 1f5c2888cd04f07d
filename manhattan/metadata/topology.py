"""Membership changes as commands of the metadata log (mixed into its state machine)."""

from __future__ import annotations

import json
from typing import Any

from manhattan.errors import InvalidRequest, StaleTopology
from manhattan.tenancy.items import VersionedItems

TOPOLOGY_KEY = "topology/current"
VOTERS_KEY = "topology/voters"  # node id -> Raft endpoint of every voter a change made
_STATES = ("normal", "joining", "leaving")


class TopologyCommands:
    """Membership changes as log commands: one at a time by construction, epochs from the
    log. Topologies are plain JSON here ({"epoch", "members": [{id, address, zone, weight,
    state}], "change"}); the cluster layer owns their meaning."""

    items: VersionedItems
    seq: int

    def _topology(self) -> dict[str, Any] | None:
        raw = dict(self.items.live("topology/")).get(TOPOLOGY_KEY[len("topology/"):])
        return json.loads(raw) if raw is not None else None

    def _store_topology(self, topology: dict[str, Any]) -> dict[str, Any]:
        self.items.put(TOPOLOGY_KEY, json.dumps(topology, sort_keys=True).encode(), self.seq)
        return {"topology": topology}

    @staticmethod
    def _members(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
        members = [{"id": int(m["id"]), "address": str(m["address"]),
                    "zone": str(m.get("zone", "default")), "weight": int(m.get("weight", 1)),
                    "state": str(m.get("state", "normal"))} for m in raw]
        if not members or len({m["id"] for m in members}) != len(members) or any(
                m["state"] not in _STATES for m in members):
            raise InvalidRequest("a topology needs members with unique ids and known states")
        return sorted(members, key=lambda m: m["id"])

    def _op_topology_begin(self, command: dict[str, Any]) -> dict[str, Any]:
        base = command["base"]
        current = self._topology() or {"epoch": int(base["epoch"]),
                                       "members": self._members(base["members"])}
        if current.get("change"):
            change = current["change"]
            raise StaleTopology(f"another membership change is under way (change "
                                f"{change['id']}: {change['kind']}); resume or abort it first")
        if current.get("voters_pending"):
            raise StaleTopology(f"the metadata voters of change "
                                f"{current['voters_pending']['change']} are not settled yet; "
                                f"run a membership command again to finish them first")
        if int(base["epoch"]) != current["epoch"]:
            raise StaleTopology(f"the change was planned on topology epoch {base['epoch']}, "
                                f"but the log is at epoch {current['epoch']}: plan it again")
        members = self._members(command["members"])
        if all(m["state"] == "normal" for m in members):
            raise InvalidRequest("a membership change needs a joining or a leaving member")
        return self._store_topology({
            "epoch": current["epoch"] + 1, "members": members,
            "change": {"id": self.seq, "kind": str(command.get("kind", "")),
                       "previous": current["members"]}})

    def _current_change(self, command: dict[str, Any]) -> dict[str, Any]:
        current = self._topology()
        if current is None or not current.get("change"):
            raise StaleTopology("no membership change is under way")
        wanted = command.get("change_id")
        if wanted and wanted != current["change"]["id"]:
            raise StaleTopology(f"change {wanted} is over; the one under way is "
                                f"{current['change']['id']}")
        return current

    def _op_topology_switch(self, command: dict[str, Any]) -> dict[str, Any]:
        current = self._current_change(command)
        members = [dict(m, state="normal") for m in current["members"] if m["state"] != "leaving"]
        change_id = current["change"]["id"]
        # The voter change that follows the switch (joined nodes promoted, departed ones'
        # voters retired) is recorded until a driver settles it, so that any node can
        # finish it when the driver dies after the switch.
        pending = {"change": change_id,
                   "joined": [m["id"] for m in current["members"] if m["state"] == "joining"],
                   "leaving": [{"id": m["id"], "address": m["address"]}
                               for m in current["members"] if m["state"] == "leaving"]}
        return self._store_topology({"epoch": current["epoch"] + 1, "members": members,
                                     "change": None, "finished": change_id,
                                     "voters_pending": pending})

    def _op_voters_settled(self, command: dict[str, Any]) -> dict[str, Any]:
        """The voter change after change ``change_id``'s switch is done (a no-op when it
        was settled already, by another driver)."""
        current = self._topology()
        pending = (current or {}).get("voters_pending")
        if current is None or not pending or pending["change"] != int(command["change_id"]):
            return {"settled": False}
        self._store_topology({**current, "voters_pending": None})
        return {"settled": True}

    def _op_topology_abort(self, command: dict[str, Any]) -> dict[str, Any]:
        """Back to the members before the change, at a new epoch: nobody dropped a range
        yet (cleanup runs only after a switch), so the previous owners still hold them."""
        current = self._current_change(command)
        return self._store_topology({"epoch": current["epoch"] + 1,
                                     "members": current["change"]["previous"],
                                     "change": None, "aborted": current["change"]["id"]})

    def _op_voter_endpoints(self, command: dict[str, Any]) -> dict[str, Any]:
        """Record the Raft endpoints of voters by node id, so that any node, configured
        with them or not, can later remove the voter of a node that leaves."""
        raw = dict(self.items.live("topology/")).get(VOTERS_KEY[len("topology/"):])
        known: dict[str, str] = json.loads(raw) if raw is not None else {}
        for node_id, address in dict(command["endpoints"]).items():
            host, sep, port = str(address).rpartition(":")
            if not host or not sep or not port.isdigit() or int(node_id) < 0:
                raise InvalidRequest(f"voter endpoint {node_id}={address!r} is not "
                                     "id=host:port")
            known[str(int(node_id))] = str(address)
        self.items.put(VOTERS_KEY, json.dumps(known, sort_keys=True).encode(), self.seq)
        return {"endpoints": known}
