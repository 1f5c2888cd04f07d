"""The network the nodes run on, and the faults it can inject.

``NamespaceNet`` (preferred): one network namespace per node, each with a veth into a
private bridge made by the harness (10.213.x.0/24, no default route, so nothing leaves
it); partitions are iptables DROP rules in the receiving node's namespace, loss is an
iptables ``statistic`` match, delay is tc netem when the kernel has it. The harness
(clients, checkers) talks to the nodes over the bridge.

``ProxyNet`` (fallback, when namespaces cannot be made): nodes on loopback, and every
node reaches every peer through a TCP proxy per directed link that the harness
controls; a cut link stops forwarding (bytes are swallowed, as a packet drop would).

Both remove everything they made in ``teardown`` (called from finally and atexit).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterable
from typing import Protocol

log = logging.getLogger("jepsen.net")
Link = tuple[int, int]  # (from node, to node): packets from -> to are dropped
CHAIN = "JEPSEN"


class Net(Protocol):
    """What the cluster and the nemesis need from a network."""

    mode: str
    notes: list[str]

    def setup(self, nodes: list[int]) -> None: ...
    def add_node(self, node: int) -> None: ...
    def listen(self, node: int) -> str: ...
    def member_address(self, viewer: int, node: int) -> str: ...
    def client_address(self, node: int) -> str: ...
    def wrap(self, node: int, command: list[str]) -> list[str]: ...
    def cut(self, links: Iterable[Link]) -> None: ...
    def heal(self) -> None: ...
    def degrade(self, node: int, *, loss: float = 0.0, delay_ms: int = 0) -> str: ...
    def teardown(self) -> None: ...


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=20)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def namespaces_supported() -> tuple[bool, str]:
    """Whether this host lets us make namespaces, veths, bridges and iptables rules."""
    if os.geteuid() != 0:
        return False, "not root"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return False, f"{tool} not installed"
    probe = f"mjprobe{os.getpid() % 100000}"
    try:
        _run("ip", "netns", "add", probe)
        _run("ip", "netns", "exec", probe, "iptables", "-N", CHAIN)
        return True, "ok"
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        return False, f"namespace probe failed: {detail.strip()}"
    finally:
        _run("ip", "netns", "del", probe, check=False)


def cleanup_stale() -> list[str]:
    """Remove namespaces and bridges left by earlier harness runs whose process is gone."""
    removed: list[str] = []
    listing = _run("ip", "netns", "list", check=False).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(r"mj(\d+)n\d+", name)
        if m and not _pid_alive(int(m.group(1))):
            _run("ip", "netns", "del", name, check=False)
            removed.append(name)
    links = _run("ip", "-o", "link", "show", check=False).stdout
    for m in re.finditer(r"^\d+: (mjb(\d+))[:@]", links, re.M):
        if not _pid_alive(int(m.group(2))):
            _run("ip", "link", "del", m.group(1), check=False)
            removed.append(m.group(1))
    return removed


class NamespaceNet:
    """Nodes in their own namespaces on a private bridge (see the module docstring)."""

    mode = "netns"

    def __init__(self, port: int = 7100) -> None:
        self.port = port
        self.tag = str(os.getpid())
        self.bridge = f"mjb{self.tag}"[:15]
        self.notes: list[str] = []
        self.nodes: list[int] = []
        self.subnet = self._pick_subnet()
        self.netem = False
        self._made_bridge = False
        self._made: list[str] = []

    @staticmethod
    def _pick_subnet() -> str:
        used = _run("ip", "-4", "-o", "addr", "show", check=False).stdout
        for third in [os.getpid() % 200 + 20, *range(20, 250)]:
            prefix = f"10.213.{third}"
            if f" {prefix}." not in used:
                return prefix
        raise RuntimeError("no free 10.213.x.0/24 subnet")

    def ns(self, node: int) -> str:
        """The namespace of ``node``."""
        return f"mj{self.tag}n{node}"

    def ip(self, node: int) -> str:
        """The bridge address of ``node``."""
        return f"{self.subnet}.{10 + node}"

    def setup(self, nodes: list[int]) -> None:
        """Bridge, one namespace + veth per node, an empty JEPSEN chain in each."""
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        self._made_bridge = True
        _run("ip", "addr", "add", f"{self.subnet}.1/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        for node in nodes:
            self.add_node(node)
        probe = _run("ip", "netns", "exec", self.ns(nodes[0]), "tc", "qdisc", "add", "dev", "lo",
                     "root", "netem", "delay", "1ms", check=False)
        self.netem = probe.returncode == 0
        if self.netem:
            _run("ip", "netns", "exec", self.ns(nodes[0]), "tc", "qdisc", "del", "dev", "lo", "root",
                 check=False)
        else:
            self.notes.append("tc netem is not available in this kernel: packet delay is not "
                              "injected; packet loss uses an iptables statistic match instead")

    def add_node(self, node: int) -> None:
        """One more namespace on the bridge (setup's nodes, and spares added later)."""
        # interface names: at most 15 bytes ("mjv" + pid (<= 7 digits) + "h"/"p" + id)
        ns, host_if, peer_if = self.ns(node), f"mjv{self.tag}h{node}", f"mjv{self.tag}p{node}"
        _run("ip", "netns", "add", ns)
        self._made.append(ns)
        self.nodes.append(node)
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        _run("ip", "link", "set", peer_if, "netns", ns)
        _run("ip", "link", "set", host_if, "master", self.bridge)
        _run("ip", "link", "set", host_if, "up")
        _run("ip", "-n", ns, "link", "set", peer_if, "name", "eth0")
        _run("ip", "-n", ns, "addr", "add", f"{self.ip(node)}/24", "dev", "eth0")
        _run("ip", "-n", ns, "link", "set", "eth0", "up")
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        self._ipt(node, "-N", CHAIN)
        self._ipt(node, "-I", "INPUT", "-j", CHAIN)

    def _ipt(self, node: int, *args: str) -> None:
        _run("ip", "netns", "exec", self.ns(node), "iptables", "-w", "5", *args)

    def listen(self, node: int) -> str:
        return f"{self.ip(node)}:{self.port}"

    def member_address(self, viewer: int, node: int) -> str:
        return self.listen(node)

    def client_address(self, node: int) -> str:
        return self.listen(node)

    def wrap(self, node: int, command: list[str]) -> list[str]:
        """``ip netns exec`` execs the command, so the child's PID is the node's PID."""
        return ["ip", "netns", "exec", self.ns(node), *command]

    def cut(self, links: Iterable[Link]) -> None:
        """Drop packets on each directed link (rule in the receiver's namespace)."""
        for src, dst in links:
            self._ipt(dst, "-A", CHAIN, "-s", self.ip(src), "-j", "DROP")

    def heal(self) -> None:
        """Remove every partition and loss rule, and any netem qdisc."""
        for node in self.nodes:
            self._ipt(node, "-F", CHAIN)
            if self.netem:
                _run("ip", "netns", "exec", self.ns(node), "tc", "qdisc", "del", "dev", "eth0",
                     "root", check=False)

    def degrade(self, node: int, *, loss: float = 0.0, delay_ms: int = 0) -> str:
        """Loss and/or delay on every packet ``node`` receives; returns what was applied."""
        if self.netem:
            args = ["tc", "qdisc", "replace", "dev", "eth0", "root", "netem"]
            if delay_ms:
                args += ["delay", f"{delay_ms}ms", f"{max(delay_ms // 4, 1)}ms"]
            if loss:
                args += ["loss", f"{loss * 100:.1f}%"]
            _run("ip", "netns", "exec", self.ns(node), *args)
            return f"netem delay={delay_ms}ms loss={loss:.0%}"
        if loss:
            self._ipt(node, "-A", CHAIN, "-m", "statistic", "--mode", "random",
                      "--probability", f"{loss:.3f}", "-j", "DROP")
            return f"iptables loss={loss:.0%} (no netem: delay skipped)"
        return "skipped (no netem for delay)"

    def teardown(self) -> None:
        """Delete the namespaces (their veths and rules go with them) and the bridge."""
        for ns in self._made:
            _run("ip", "netns", "del", ns, check=False)
        self._made.clear()
        if self._made_bridge:
            _run("ip", "link", "del", self.bridge, check=False)
            self._made_bridge = False


class ProxyNet:
    """Loopback nodes, peers reached through one harness-controlled proxy per directed link."""

    mode = "proxy"

    def __init__(self) -> None:
        self.notes = ["network namespaces unavailable: per-link TCP proxies on loopback are used; "
                      "a cut link swallows bytes, loss and delay are not injected"]
        self.ports: dict[int, int] = {}
        self.proxy_ports: dict[Link, int] = {}
        self.blocked: set[Link] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="jepsen-proxies")
        self._servers: list[asyncio.AbstractServer] = []
        self._conns: dict[Link, set[asyncio.StreamWriter]] = {}

    @staticmethod
    def _free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def setup(self, nodes: list[int]) -> None:
        self._thread.start()
        self.ports = {n: self._free_port() for n in nodes}
        for src in nodes:
            for dst in nodes:
                if src != dst:
                    link = (src, dst)
                    self._conns[link] = set()
                    server = asyncio.run_coroutine_threadsafe(
                        asyncio.start_server(lambda r, w, link=link: self._serve(link, r, w),
                                             "127.0.0.1", 0), self._loop).result(10)
                    self._servers.append(server)
                    self.proxy_ports[link] = server.sockets[0].getsockname()[1]

    async def _serve(self, link: Link, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        conns = self._conns[link]
        conns.add(writer)
        try:
            if link in self.blocked:
                while await reader.read(65536):  # swallow, as a dropped packet would
                    pass
                return
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.ports[link[1]])
            conns.add(up_w)

            async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                while data := await src.read(65536):
                    if link in self.blocked:
                        continue
                    dst.write(data)
                    await dst.drain()
                dst.close()

            await asyncio.gather(pump(reader, up_w), pump(up_r, writer), return_exceptions=True)
        except OSError:
            pass
        finally:
            conns.discard(writer)
            writer.close()

    def add_node(self, node: int) -> None:
        """Spares (membership changes) need their own host: not in proxy mode."""
        raise NotImplementedError("membership changes need network namespaces")

    def listen(self, node: int) -> str:
        return f"127.0.0.1:{self.ports[node]}"

    def member_address(self, viewer: int, node: int) -> str:
        if viewer == node:
            return self.listen(node)
        return f"127.0.0.1:{self.proxy_ports[(viewer, node)]}"

    def client_address(self, node: int) -> str:
        return self.listen(node)

    def wrap(self, node: int, command: list[str]) -> list[str]:
        return command

    def cut(self, links: Iterable[Link]) -> None:
        self.blocked |= set(links)

    def heal(self) -> None:
        """Unblock, and reset the connections that swallowed bytes (their streams are torn)."""
        was, self.blocked = self.blocked, set()

        def reset() -> None:
            for link in was:
                for writer in list(self._conns.get(link, ())):
                    writer.close()
        self._loop.call_soon_threadsafe(reset)

    def degrade(self, node: int, *, loss: float = 0.0, delay_ms: int = 0) -> str:
        return "skipped (proxy mode)"

    def teardown(self) -> None:
        for server in self._servers:
            self._loop.call_soon_threadsafe(server.close)
        self._servers.clear()
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)


def make_net(prefer: str = "auto") -> Net:
    """A NamespaceNet when possible (``prefer`` "netns"/"proxy" forces one)."""
    if prefer == "proxy":
        return ProxyNet()
    ok, why = namespaces_supported()
    if ok:
        cleanup_stale()
        return NamespaceNet()
    if prefer == "netns":
        raise RuntimeError(f"network namespaces unavailable: {why}")
    net = ProxyNet()
    net.notes.insert(0, f"namespaces unavailable ({why})")
    return net
