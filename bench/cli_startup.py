"""CPU seconds of ``manhattan --help`` and ``manhattan status`` (a benchmark row, not a test).

Targets (issue 18): ``--help`` under 0.3 s and ``status`` under 0.6 s of CPU,
user plus system, of the command's own process. CPU rather than wall time so
that a busy machine does not move the figure much. ``status`` runs against a
real node started here (loopback, a free port, a temp dir; stopped by PID).

    .venv/bin/python -m manhattan.bench.cli_startup [--runs 5]

``make bench`` runs it after the suites. Prints one row per command: the median
and the worst of the runs, and whether the median meets the target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TARGETS_S = {"--help": 0.3, "status": 0.6}


def manhattan_command() -> list[str]:
    """The installed entry point next to this interpreter (what a user runs)."""
    script = Path(sys.executable).with_name("manhattan")
    return [str(script)] if script.exists() else [sys.executable, "-m", "manhattan.cli"]


def cpu_seconds(argv: list[str], env: dict[str, str]) -> float:
    """User + system CPU of one run of ``argv`` (which must succeed)."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: "
                           f"{proc.stderr.read().decode(errors='replace') if proc.stderr else ''}")
    if proc.stderr:
        proc.stderr.close()
    return usage.ru_utime + usage.ru_stime


def measure(runs: int) -> list[tuple[str, float, float, float]]:
    """(command, median s, worst s, target s) for each measured command."""
    from manhattan.node.process import NodeProcess

    base = manhattan_command()
    rows = []
    with tempfile.TemporaryDirectory(prefix="cli-startup-") as tmp:
        node = NodeProcess(Path(tmp) / "data", node_id=1)
        node.start()
        try:
            env = {**os.environ, "MANHATTAN_ENDPOINTS": node.address,
                   "MANHATTAN_TOKEN": node.admin_token(), "COLUMNS": "80"}
            for name, args in (("--help", ["--help"]), ("status", ["status"])):
                cpu_seconds(base + args, env)  # warm the page cache and .pyc files
                samples = [cpu_seconds(base + args, env) for _ in range(runs)]
                rows.append((f"manhattan {name}", statistics.median(samples), max(samples),
                             TARGETS_S[name]))
        finally:
            node.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m manhattan.bench.cli_startup",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per command (default 5)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    print(f"{'command':<20} {'median CPU s':>12} {'worst CPU s':>12} {'target s':>9}  meets")
    for name, median, worst, target in measure(args.runs):
        print(f"{name:<20} {median:>12.3f} {worst:>12.3f} {target:>9.2f}  "
              f"{'yes' if median < target else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
