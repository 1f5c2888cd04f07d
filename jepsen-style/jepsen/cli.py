"""``python jepsen-style/run.py [--seed N] [--duration S] [--smoke]``: exit 0 iff the run passed."""

from __future__ import annotations

import argparse
import logging
import random
import signal
import sys
import time
from pathlib import Path

from jepsen.canary import KINDS as CANARY_KINDS
from jepsen.checkers.metadata import AGREE_BOUND_S
from jepsen.gates import SMOKE_CHECKS, validate
from jepsen.nemesis import ALL_KINDS
from jepsen.report import summary_text
from jepsen.runner import SMOKE_KINDS, SMOKE_LAST, RunConfig, run


def parse(argv: list[str] | None = None) -> RunConfig:
    p = argparse.ArgumentParser(prog="jepsen-style/run.py", description=__doc__)
    p.add_argument("--seed", type=int, default=None, help="replay a run (default: random)")
    p.add_argument("--duration", type=float, default=None,
                   help="seconds of load under faults (default 240, smoke 36)")
    p.add_argument("--smoke", action="store_true", help="short run with a few fault kinds")
    p.add_argument("--faults", default="", help=f"comma-separated kinds of {','.join(ALL_KINDS)}, or none")
    p.add_argument("--net", choices=["auto", "netns", "proxy"], default="auto")
    p.add_argument("--out", type=Path, default=None, help="output directory")
    p.add_argument("--canary", nargs="?", const="set", default="",
                   help="inject a fault behind the system's back so the run must fail: "
                        f"comma-separated of {','.join(CANARY_KINDS)} (alone: set)")
    p.add_argument("--checks", default="",
                   help="comma-separated check ids that decide the exit status (and the "
                        "optional workloads they need); default: all, or the smoke's list")
    p.add_argument("--nodes", type=int, default=5, help="nodes in the cluster (default 5)")
    p.add_argument("--rf", type=int, default=3, help="replication factor (default 3)")
    p.add_argument("--agree-bound", type=float, default=AGREE_BOUND_S, metavar="S",
                   help="seconds after the heal within which every node's metadata must "
                        f"agree (default {AGREE_BOUND_S:.0f}; the agreement canary holds its "
                        "partition past it)")
    p.add_argument("--no-social", action="store_true",
                   help="skip the service-layer workload (and its ~25 s service start-up)")
    a = p.parse_args(argv)
    seed = a.seed if a.seed is not None else random.randrange(1, 2**31)
    duration = a.duration if a.duration is not None else (36.0 if a.smoke else 240.0)
    kinds = [k for k in a.faults.split(",") if k] or (SMOKE_KINDS if a.smoke else list(ALL_KINDS))
    if kinds == ["none"]:
        kinds = []
    unknown = set(kinds) - set(ALL_KINDS)
    if unknown:
        p.error(f"unknown fault kinds: {sorted(unknown)}")
    gating: list[str] | None = list(SMOKE_CHECKS) if a.smoke else None
    if a.checks:
        try:
            gating = validate([c for c in a.checks.split(",") if c])
        except ValueError as exc:
            p.error(str(exc))
    canaries = [k for k in a.canary.split(",") if k]
    if set(canaries) - set(CANARY_KINDS):
        p.error(f"unknown canaries: {sorted(set(canaries) - set(CANARY_KINDS))}")
    if not 0 < a.agree_bound <= 600:
        p.error(f"--agree-bound {a.agree_bound} must be in (0, 600] seconds")
    if not 1 <= a.rf <= a.nodes or a.nodes < 1:
        p.error(f"--rf {a.rf} needs 1 <= rf <= --nodes ({a.nodes})")
    runs = Path(__file__).resolve().parents[1] / "runs"
    out = a.out or runs / f"{time.strftime('%Y%m%d-%H%M%S')}-seed{seed}"
    cfg = RunConfig(seed=seed, duration=duration, out=out, kinds=kinds, net=a.net,
                    canaries=canaries, social=not a.no_social, nodes=a.nodes, rf=a.rf,
                    gating=gating, agree_bound_s=a.agree_bound)
    if a.smoke:
        cfg.fault_s, cfg.gap_s, cfg.converge_timeout_s = (2.5, 3.5), (1.5, 2.5), 30.0
        if not a.faults:
            cfg.last = list(SMOKE_LAST)
    return cfg


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    cfg = parse(argv)
    # SIGTERM/SIGINT unwind through the runner's finally: nodes and namespaces are removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"jepsen-style: seed {cfg.seed}, {cfg.duration:.0f} s of load, output {cfg.out}",
          flush=True)
    report = run(cfg)
    print(summary_text(report), flush=True)
    print(f"history, report.json, summary.txt, timeline.png in {cfg.out}")
    return 0 if report.get("passed") else 1
