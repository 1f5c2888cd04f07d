"""Hosts for a deployment test: network namespaces on a private bridge.

Unlike jepsen-style's net (a bridge in the root namespace, with an address), the
bridge here lives in a namespace of its own, so the test adds no address, route
or interface to the machine's own network: the "hosts" can reach each other and
nothing else, and the machine cannot reach them. Everything made is removed in
``close`` (also on failure: use it as a context manager).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check,
                          timeout=20)


def namespaces_permitted() -> tuple[bool, str]:
    """Whether this process may make namespaces and veth pairs (root, iproute2)."""
    if os.geteuid() != 0:
        return False, "not root"
    if shutil.which("ip") is None:
        return False, "iproute2 (ip) is not installed"
    probe = f"mhprobe{os.getpid() % 100000}"
    try:
        _ip("netns", "add", probe)
        _ip("-n", probe, "link", "add", "p0", "type", "veth", "peer", "name", "p1")
        return True, "ok"
    except (subprocess.SubprocessError, OSError) as exc:
        return False, f"ip netns is not permitted: {getattr(exc, 'stderr', '') or exc}"
    finally:
        _ip("netns", "del", probe, check=False)


class Hosts:
    """Namespaces named ``mh<pid>h<i>`` with address ``<prefix>.<host>`` on one bridge."""

    def __init__(self, addresses: Mapping[str, str], prefix_len: int = 24) -> None:
        self.tag = f"mh{os.getpid() % 10**7}"
        self.addresses = dict(addresses)  # host name -> IPv4 address
        self.prefix_len = prefix_len
        self.switch = f"{self.tag}sw"
        self.made: list[str] = []

    def ns(self, host: str) -> str:
        """The namespace of ``host``."""
        return f"{self.tag}{host}"

    def open(self) -> "Hosts":
        _ip("netns", "add", self.switch)
        self.made.append(self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for index, (host, address) in enumerate(self.addresses.items()):
            ns = self.ns(host)
            _ip("netns", "add", ns)
            self.made.append(ns)
            port = f"v{index}"
            _ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                "netns", ns)
            _ip("-n", self.switch, "link", "set", port, "master", "br0")
            _ip("-n", self.switch, "link", "set", port, "up")
            _ip("-n", ns, "addr", "add", f"{address}/{self.prefix_len}", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        return self

    def command(self, host: str, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside ``host`` (``ip netns exec`` execs it: same PID)."""
        return ["ip", "netns", "exec", self.ns(host), *argv]

    def close(self) -> None:
        """Delete every namespace made (their veths and the bridge go with them)."""
        for ns in reversed(self.made):
            _ip("netns", "del", ns, check=False)
        self.made.clear()

    def __enter__(self) -> "Hosts":
        try:
            return self.open()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.close()
