"""The cluster under test: real ``manhattan node`` processes, started, killed, paused and
clock-skewed by PID; each runs in its namespace (or behind proxies) as the Net decides."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import tomli_w

from manhattan.metadata.log import raft_address
from manhattan.node.process import wait_serving
from manhattan.tenancy import generate_admin_token

from jepsen.net import Net

# Failure detection and replica timeouts short enough for faults to matter within a
# short run; the client timeout (workloads) is above the replica timeout.
NODE_CLUSTER_CONFIG = {"ping_interval_s": 0.2, "hint_replay_interval_s": 0.3,
                       "replica_timeout_s": 1.0}
# Anti-entropy makes one exchange (a dataset with a peer) per interval, round-robin: with
# the social service's 9 datasets besides the harness's, the default 10 s makes a round
# ~200 s, far past the 30 s convergence bound for a write no hint covers (see the README).
# 1 s keeps a round near 20 s, as it was with one dataset at the default.
NODE_REPAIR_CONFIG = {"interval_s": 1.0}
# Tombstones purged seconds after their delete (the default is 10 days), so the no-zombie
# promise is tested while faults and membership changes still move data around.
NODE_STORAGE_CONFIG = {"tombstone_grace_s": 2.0, "purge_interval_s": 1.0}
# 16 MiB instead of 64: 32 values of up to 1 MiB in one answer exceed it, the code path of
# a 64 MiB answer at a price a 2-core host can pay. The node checks that a batch, two
# response pages and a streaming chunk (8 MiB + a record) fit a message: batches go to 4 MiB.
MESSAGE_LIMIT = 16 * 1024 * 1024
NODE_LIMITS_CONFIG = {"max_message_bytes": MESSAGE_LIMIT, "max_batch_bytes": 4 * 1024 * 1024}


class Node:
    """One node process; every signal goes to the PID this object started."""

    def __init__(self, node_id: int, root: Path, net: Net) -> None:
        self.id = node_id
        self.net = net
        self.dir = root / f"node{node_id}"
        self.config_path = root / f"node{node_id}.toml"
        self.log_path = root / f"node{node_id}.log"
        self.clock_file = root / f"node{node_id}.clock"
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False
        self.clock_offset_ms = 0

    @property
    def address(self) -> str:
        """Where clients dial this node."""
        return self.net.client_address(self.id)

    @property
    def running(self) -> bool:
        """Whether the process exists (paused counts as running)."""
        return self.proc is not None and self.proc.poll() is None

    def write_config(self, members: list[int], token: str) -> None:
        """The node's TOML: its namespace address, members as it sees them, the clock file."""
        config = {
            "node": {"id": self.id, "listen": self.net.listen(self.id), "data_dir": str(self.dir),
                     "admin_token": token},
            "clock": {"offset_file": str(self.clock_file)},
            "repair": dict(NODE_REPAIR_CONFIG),
            "storage": dict(NODE_STORAGE_CONFIG),
            "limits": dict(NODE_LIMITS_CONFIG),
            # Raft names a voter by its endpoint, so every node must give each voter the
            # same one: its own, never a proxy of this viewer's (in proxy mode the
            # metadata log's traffic is then not faulted; in namespaces, the same as
            # the default).
            "cluster": {**NODE_CLUSTER_CONFIG, "members": [
                {"id": m, "address": self.net.member_address(self.id, m),
                 "metadata_address": raft_address(self.net.listen(m))} for m in members]},
        }
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.config_path, "wb") as fh:
            tomli_w.dump(config, fh)
        self.config_path.chmod(0o600)
        self.set_clock_offset(0)

    def start(self, timeout: float = 60.0) -> None:
        """Spawn and wait until it serves."""
        self.spawn()
        self.wait_serving(timeout)

    def wait_serving(self, timeout: float = 60.0) -> None:
        """Until the health service says SERVING (raises if the process exits)."""
        wait_serving(self.address, timeout, self.proc)

    def spawn(self) -> None:
        """Start the process (no wait)."""
        if self.running:
            return
        command = self.net.wrap(self.id, [sys.executable, "-m", "manhattan.cli", "node", "start",
                                          "--config", str(self.config_path)])
        env = {k: v for k, v in os.environ.items() if not k.startswith("MANHATTAN_")}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env)
        self.paused = False

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed."""
        if self.running:
            assert self.proc is not None
            if self.paused:
                self.resume()
            self.proc.kill()
            self.proc.wait(30)

    def pause(self) -> None:
        """SIGSTOP: the process is frozen; its sockets stay open (a GC pause, a VM stall)."""
        if self.running and not self.paused:
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        """SIGCONT."""
        if self.running and self.paused:
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM (after SIGCONT), SIGKILL past the grace period."""
        if not self.running:
            return
        assert self.proc is not None
        self.resume()
        self.proc.terminate()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)

    def set_clock_offset(self, offset_ms: int) -> None:
        """Atomically replace the offset file the node's clock polls."""
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(str(int(offset_ms)), encoding="ascii")
        tmp.replace(self.clock_file)
        self.clock_offset_ms = int(offset_ms)


class Cluster:
    """N nodes on a Net; ``start`` then ``stop`` (always, in a finally)."""

    def __init__(self, root: Path, net: Net, n: int = 5, rf: int = 3) -> None:
        if not 1 <= rf <= n:
            raise ValueError(f"replication factor {rf} needs 1 <= rf <= nodes ({n})")
        self.root = root
        self.net = net
        self.rf = rf
        self.ids = list(range(1, n + 1))  # the original members: fault targets
        self.token = generate_admin_token()
        # the current members (the originals, plus a spare while it is a member)
        self.nodes = {i: Node(i, root, net) for i in self.ids}
        self.retired: list[Node] = []  # spares started and decommissioned since
        self._next_spare = n + 1

    @property
    def endpoints(self) -> list[str]:
        """Client addresses of every node."""
        return [n.address for n in self.nodes.values()]

    def start(self) -> None:
        """Net, configs, processes (in parallel start-up: each waits for its own health)."""
        if self.root.exists():  # a fresh cluster every run (an old one would keep its catalog)
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        self.net.setup(self.ids)
        for node in self.nodes.values():
            node.write_config(self.ids, self.token)
        for node in self.nodes.values():  # in parallel: a cold start is mostly imports
            node.spawn()
        for node in self.nodes.values():
            node.wait_serving()

    def start_spare(self) -> Node:
        """A fresh node (new id, own namespace, empty data dir, a cluster of itself) that a
        membership change can add; not a member (not in ``nodes``) until the caller says."""
        node = Node(self._next_spare, self.root, self.net)
        self._next_spare += 1
        self.net.add_node(node.id)
        node.write_config([node.id], self.token)
        self.retired.append(node)  # stopped at the end whatever happens to it
        node.start()
        return node

    def resolve(self, node_id: int) -> int:
        """The current member a scheduled target stands for: itself while a member, else
        (replaced or removed since) the member at its position among the current ones."""
        if node_id in self.nodes:
            return node_id
        current = sorted(self.nodes)
        return current[(node_id - 1) % len(current)]

    def spares(self) -> list[int]:
        """Ids of current members that are not original members."""
        return [i for i in self.nodes if i not in self.ids]

    def down(self) -> list[int]:
        """Ids of nodes not running."""
        return [i for i, n in self.nodes.items() if not n.running]

    def restart_all(self) -> None:
        """Resume paused nodes, start dead ones, zero clock offsets."""
        for node in self.nodes.values():
            node.resume()
            node.set_clock_offset(0)
            if not node.running:
                node.start()

    def stop(self) -> None:
        """Every process we started, by PID; then the network."""
        every = list({id(n): n for n in [*self.nodes.values(), *self.retired]}.values())
        try:
            for node in every:
                node.resume()
                if node.running and node.proc is not None:
                    node.proc.terminate()
            deadline = time.monotonic() + 15
            for node in every:
                if node.proc is not None and node.proc.poll() is None:
                    try:
                        node.proc.wait(max(deadline - time.monotonic(), 0.1))
                    except subprocess.TimeoutExpired:
                        node.proc.kill()
                        node.proc.wait(30)
        finally:
            self.net.teardown()
