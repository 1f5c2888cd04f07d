"""Manhattan benchmarks (``make bench``): run suites, print a table, write JSON.

Each suite measures its own baselines in the same run and reports ratios
against them, with the target ratio and whether it is met. Nothing asserts on
timing: the exit code is 0 whenever the benchmarks ran.

    .venv/bin/python bench/run.py                  # the full run, every suite (hours: 5 x 10 s
                                                   # per case, capacity and growth the longest)
    .venv/bin/python bench/run.py --quick          # a smoke run (a few minutes)
    .venv/bin/python bench/run.py --suite cluster  # one suite (repeatable)

After the suites, BENCHMARKS.md and bench/plots/ are re-rendered from every
bench/results/<suite>.json (bench/report.py). A --quick run writes its results,
page and plots under --out (default: a fresh temp dir), never over the repo's.

Adding a suite: a module in bench/ with ``NAME``, ``TITLE`` and
``run(settings, progress, workdir) -> list[Result]`` (see bench/single_node.py
and bench/common.py), registered in ``SUITES`` below.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from types import ModuleType

from rich.console import Console
from rich.table import Table

from manhattan.bench import capacity, cluster, counters, growth, ops, report, serial, \
    single_node, social, targets, twitter, ycsb
from manhattan.bench.common import MIN_RUN_S, MIN_RUNS, Result, Settings

ROOT = Path(__file__).resolve().parent.parent  # the repository (bench/ is its child)

SUITES: dict[str, ModuleType] = {suite.NAME: suite for suite in (single_node, cluster, ops,
                                                                  social, twitter, ycsb,
                                                                  targets, serial, capacity,
                                                                  growth, counters)}
DEFAULT_JSON = ROOT / "bench" / "results" / "latest.json"


MAX_CALLERS = 1024


def _callers(text: str) -> tuple[int, ...]:
    """``1,4,16`` -> (1, 4, 16): distinct positive counts, in order."""
    try:
        levels = tuple(dict.fromkeys(int(part) for part in text.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not levels or not all(1 <= n <= MAX_CALLERS for n in levels):
        raise argparse.ArgumentTypeError(f"each count of callers must be 1..{MAX_CALLERS}, "
                                         f"got {text!r}")
    return levels


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Run the Manhattan benchmarks and print ratios against same-run baselines.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="a short smoke run: about 1 s per case, one round")
    parser.add_argument("--seconds", type=float, default=None,
                        help="measured seconds per case, split over the rounds "
                             f"(default {MIN_RUNS * MIN_RUN_S:.0f}, --quick 0.9)")
    parser.add_argument("--ops", type=int, default=None,
                        help="measure this many operations per case instead of a time budget "
                             "(records for batch cases, e.g. 1,000 per MultiPut)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="warm-up seconds per case (default 1, --quick 0.25)")
    parser.add_argument("--rounds", type=int, default=None,
                        help=f"interleaved rounds per group of cases (default {MIN_RUNS}, "
                             "--quick 1)")
    parser.add_argument("--callers", type=_callers, default=None,
                        help="callers in flight for the capacity and counters suites, "
                             "comma-separated (default 1,4,16,64 and 1,16; --quick 1,4 "
                             "and 1,16)")
    parser.add_argument("--suite", action="append", choices=sorted(SUITES),
                        help="run only this suite (repeatable; default: all)")
    parser.add_argument("--json", type=Path, default=None,
                        help="where to write the older suites' results (default "
                             f"{DEFAULT_JSON.relative_to(ROOT)}, or OUT/results/latest.json)")
    parser.add_argument("--out", type=Path, default=None,
                        help="write results/, BENCHMARKS.md and plots/ under this directory "
                             "instead of the repo's (default for --quick: a new temp dir)")
    parser.add_argument("--no-report", action="store_true",
                        help="do not re-render BENCHMARKS.md and the plots")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="directory for the nodes' and the baseline's data "
                             "(default: the system temp dir)")
    args = parser.parse_args(argv)
    for name in ("seconds", "warmup"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            parser.error(f"--{name} must be positive")
    if args.ops is not None and args.ops <= 0:
        parser.error("--ops must be positive")
    if args.rounds is not None and args.rounds <= 0:
        parser.error("--rounds must be positive")
    return args


def settings_from(args: argparse.Namespace) -> Settings:
    quick = args.quick
    return Settings(
        seconds=args.seconds if args.seconds is not None else
        (0.9 if quick else MIN_RUNS * MIN_RUN_S),
        warmup=args.warmup if args.warmup is not None else (0.25 if quick else 1.0),
        rounds=args.rounds if args.rounds is not None else (1 if quick else MIN_RUNS),
        ops=args.ops,
        quick=quick,
        callers=args.callers,
    )


# -- output ---------------------------------------------------------------------------


def _num(value: float, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _target(r: Result) -> str:
    parts = []
    if r.target is not None:
        parts.append(f"≥ {r.target:.2f}×")
    if r.target_rate is not None:
        parts.append(f"≥ {r.target_rate:,.0f}/s")  # records/s for batch cases, like ops/s
    return ", ".join(parts) or "-"


def spread(r: Result) -> str:
    """The runs' rates as min–max and their spread around the median (± %)."""
    if len(r.runs) < 2:
        return "-"
    low, high = min(r.runs), max(r.runs)
    middle = sorted(r.runs)[len(r.runs) // 2]
    width = (high - low) / 2 / middle * 100 if middle else float("nan")
    return f"{_num(low)}–{_num(high)} ±{width:.0f}%"


def render(console: Console, title: str, results: list[Result]) -> None:
    """One table per suite; each section starts with its baseline, notes go below; the
    load average and the runs' spread are printed with it (a busy machine skews both)."""
    load = _load()
    if load:
        title += f"  (load average {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} on " \
                 f"{os.cpu_count()} CPUs)"
    table = Table(title=title, title_justify="left")
    table.add_column("benchmark (each section: baseline first)", no_wrap=True)
    table.add_column("ops/s", justify="right", no_wrap=True)
    table.add_column("runs min–max (spread)", justify="right", no_wrap=True)
    table.add_column("p50 µs", justify="right", no_wrap=True)
    table.add_column("p99 µs", justify="right", no_wrap=True)
    table.add_column("ratio", justify="right", no_wrap=True)
    table.add_column("target", justify="right", no_wrap=True)
    table.add_column("meets target", no_wrap=True)
    notes: list[str] = []
    for r in results:
        if r.is_baseline and table.row_count:
            table.add_section()
        name = r.name
        if r.note:
            notes.append(r.note)
            name += f" [dim]({len(notes)})[/]"
        rate = _num(r.ops_per_s) + (" rec/s" if r.unit == "records" else "")
        per = " /batch" if r.per_call != "op" else ""
        meets = r.meets_target
        table.add_row(
            name, rate, spread(r), _num(r.p50_us) + per, _num(r.p99_us) + per,
            "[bold]baseline[/]" if r.is_baseline else
            ("-" if r.ratio is None else f"{r.ratio:.2f}×"),
            _target(r),
            "-" if meets is None else ("[green]yes[/]" if meets else "[red]no[/]"),
        )
    console.print(table)
    for number, note in enumerate(notes, 1):
        console.print(f"  [dim]({number}) {note}[/]")


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on every platform
        return None


def write_json(path: Path, settings: Settings, suites: dict[str, list[Result]],
               wall_s: float, load_before: list[float] | None) -> None:
    import importlib.metadata

    import grpc

    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": {
            "seconds_per_case": settings.seconds, "warmup_s": settings.warmup,
            "rounds": settings.rounds, "ops_per_case": settings.ops, "quick": settings.quick,
        },
        "environment": {
            "python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "grpcio": grpc.__version__,
            "rocksdict": importlib.metadata.version("rocksdict"),
        },
        "wall_seconds": round(wall_s, 1),
        # 1/5/15-minute load averages: a busy machine skews ratios (the node does
        # more CPU work per request than the echo server, so it suffers more).
        "load_average_before": load_before,
        "load_average_after": _load(),
        "suites": {name: [r.to_json() for r in results] for name, results in suites.items()},
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


def output_paths(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    """(results dir, BENCHMARKS.md, plots dir): the repo's, or under --out (temp for
    --quick), so a smoke run never overwrites the committed results."""
    out = args.out
    if out is None and args.quick:
        import tempfile
        out = Path(tempfile.mkdtemp(prefix="manhattan-bench-quick-"))
    if out is None:
        return report.DEFAULT_RESULTS, report.DEFAULT_MARKDOWN, report.DEFAULT_PLOTS
    return out / "results", out / "BENCHMARKS.md", out / "plots"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = settings_from(args)
    results_dir, markdown, plots = output_paths(args)
    os.environ[report.RESULTS_ENV] = str(results_dir)  # where suites write <suite>.json
    if args.json is None:
        args.json = results_dir / DEFAULT_JSON.name
    # Piped (make bench | tee ...): wide enough that the table is not folded.
    console = Console(width=None if sys.stdout.isatty() else 132)
    errors = Console(stderr=True)
    names = args.suite or list(SUITES)
    began = time.monotonic()
    load_before = _load()
    cpus = os.cpu_count() or 1
    if load_before and load_before[0] > 0.5 * cpus:
        errors.print(f"[yellow]warning:[/] load average {load_before[0]:.1f} on {cpus} CPUs: "
                     "other processes compete for the CPU and will skew the ratios")
    outcome: dict[str, list[Result]] = {}
    for number, name in enumerate(names, start=1):
        suite = SUITES[name]
        # Which suite of how many, and how long the run has taken so far.
        step = f"[{number}/{len(names)}]"
        with errors.status(f"{step} {name}: starting") as status:
            def progress(message: str, _name: str = name, _step: str = step) -> None:
                status.update(f"{_step} {_name}: {message} "
                              f"({time.monotonic() - began:.0f} s)")
            outcome[name] = suite.run(settings, progress, workdir=args.workdir)
        render(console, suite.TITLE, outcome[name])
    wall = time.monotonic() - began
    write_json(args.json, settings, outcome, wall, load_before)
    shown = args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json
    console.print(f"{wall:.0f} s; results in {shown}. "
                  "Ratios are throughput over the same run's baseline; targets are "
                  "reported, not asserted.")
    if not args.no_report:
        page = report.render_report(results_dir, markdown, plots)
        console.print(f"report: {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
