"""Find the peer systems' binaries, installing Debian's packages when they are missing.

Installing needs root and apt-get (CI and the dev box have both); elsewhere the
benchmark skips the peer and says why instead of failing.
"""

from __future__ import annotations

import os
import shutil
import subprocess

# binary -> the Debian package that ships it
PACKAGES = {"redis-server": "redis-server", "redis-cli": "redis-tools", "etcd": "etcd-server"}


class PeerMissing(RuntimeError):
    """A peer system is not installed and cannot be installed here."""


def ensure(*binaries: str) -> dict[str, str]:
    """The path of each binary, after installing the packages of those not on PATH."""
    missing = [b for b in binaries if shutil.which(b) is None]
    if missing:
        _apt_install(sorted({PACKAGES[b] for b in missing}))
    paths = {b: shutil.which(b) for b in binaries}
    absent = [b for b, path in paths.items() if path is None]
    if absent:
        raise PeerMissing(f"{', '.join(absent)} not found and could not be installed")
    return {b: str(path) for b, path in paths.items()}


def _apt_install(packages: list[str]) -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PeerMissing(f"{', '.join(packages)} missing; install them with apt-get "
                          "(needs root) to compare against them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=300,
                       capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env,
                       timeout=600, capture_output=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise PeerMissing(f"apt-get install {' '.join(packages)} failed: {exc}") from exc


def version(binary: str) -> str:
    """What ``binary --version`` prints first (for the report)."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) \
        else "unknown"
