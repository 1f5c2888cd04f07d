"""Idle CPU of a local cluster with the sample network loaded (issue 16: <= 2% of a core
per node).

Runs ``manhattan demo`` (3 nodes, the social service, the 1,000-user sample network)
in its own data directory, waits until it is ready and has settled, then samples
each node process's CPU times (psutil) over a window and prints the share of one
core each node used, beside the machine's load average (this machine is shared:
read the figures with it). Pass ``--data-dir`` to keep the loaded cluster between
runs (the demo reuses a loaded network, so the second run skips the 70 s load).
Stops the demo it started, by PID, however it ends.

    .venv/bin/python bench/idle_cpu.py --window 60 --settle 20 --data-dir /tmp/idle
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

READY_LINE = "Press Ctrl-C to stop."


def _free_base_port(span: int = 20) -> int:
    """A base port with ``span`` free ports above it (the demo uses base..base+10)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + span >= 65000:
            continue
        try:
            for port in range(base, base + span):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free port range for the demo")


def _wait_ready(proc: subprocess.Popen[str], timeout_s: float) -> None:
    """Read the demo's output until it says it is ready."""
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:  # bounded: the demo ends its output or we give up below
        if READY_LINE in line:
            return
        tail = (tail + [line])[-20:]
        if time.monotonic() > deadline:
            break
    raise RuntimeError(f"the demo was not ready within {timeout_s:.0f} s "
                       f"(exit code {proc.poll()}); its last lines:\n{''.join(tail)}")


def _node_processes(demo: psutil.Process) -> dict[str, psutil.Process]:
    """The node daemons the demo started, by a readable name."""
    nodes = {}
    for child in demo.children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if " node start " in cmd and "--id" in cmd:
            nodes["node " + cmd.split("--id", 1)[1].split()[0]] = child
    return nodes


def measure(window_s: float, nodes: dict[str, psutil.Process]) -> dict[str, float]:
    """Share of one core (percent) each process used over ``window_s``."""
    before = {name: p.cpu_times() for name, p in nodes.items()}
    start = time.monotonic()
    time.sleep(window_s)
    elapsed = time.monotonic() - start
    out = {}
    for name, proc in nodes.items():
        after = proc.cpu_times()
        used = (after.user - before[name].user) + (after.system - before[name].system)
        out[name] = 100.0 * used / elapsed
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=60.0, help="seconds measured")
    parser.add_argument("--settle", type=float, default=20.0,
                        help="seconds to wait after the demo is ready")
    parser.add_argument("--ready-timeout", type=float, default=600.0)
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep the cluster here (default: a temporary directory)")
    parser.add_argument("--py-spy", type=float, default=0.0,
                        help="also record a py-spy profile of node 1 for this many seconds")
    args = parser.parse_args(argv)
    if args.window <= 0 or args.settle < 0:
        parser.error("--window must be > 0 and --settle >= 0")
    temp = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="manhattan-idle-")) if temp else args.data_dir
    exe = Path(sys.executable).with_name("manhattan")
    # A kept cluster stores its members' addresses: it must come back on the same ports.
    port_file = data_dir / "idle-cpu-base-port"
    base_port = int(port_file.read_text()) if port_file.exists() else _free_base_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    port_file.write_text(str(base_port))
    cmd = [str(exe), "demo", "--data-dir", str(data_dir), "--base-port", str(base_port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        t0 = time.monotonic()
        _wait_ready(proc, args.ready_timeout)
        ready_s = time.monotonic() - t0
        # Keep draining the demo's output so it never blocks on a full pipe.
        assert proc.stdout is not None
        drain = subprocess.Popen(["cat"], stdin=proc.stdout, stdout=subprocess.DEVNULL)
        time.sleep(args.settle)
        nodes = _node_processes(psutil.Process(proc.pid))
        if not nodes:
            raise RuntimeError("found no node process under the demo")
        if args.py_spy:
            first = sorted(nodes)[0]
            out = data_dir / "idle-profile.txt"
            subprocess.run([str(Path(sys.executable).with_name("py-spy")), "record", "-f", "raw",
                            "-d", str(int(args.py_spy)), "-p", str(nodes[first].pid),
                            "-o", str(out)], check=False)
            print(f"py-spy profile of {first}: {out}")
        load_before = os.getloadavg()
        shares = measure(args.window, nodes)
        load_after = os.getloadavg()
        print(f"demo ready in {ready_s:.1f} s; window {args.window:.0f} s; load average "
              f"{load_before[0]:.2f} -> {load_after[0]:.2f} ({os.cpu_count()} cores)")
        for name in sorted(shares):
            print(f"  {name}: {shares[name]:.2f}% of a core")
        print(f"  max {max(shares.values()):.2f}%  mean "
              f"{sum(shares.values()) / len(shares):.2f}%")
        drain.terminate()
        drain.wait(10)
        return 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if temp:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
