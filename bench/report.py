"""BENCHMARKS.md and its plots, rendered from bench/results/<suite>.json.

Suites that compare systems write one JSON document each (``write_results``):
``{"suite", "title", "created_at", "settings", "versions", "rows", "ratios",
"notes"}`` with ``bench.rows.Row``/``Ratio`` as JSON. This module turns every
such file in a results directory into one markdown page: the machine, the
method, a table per suite, the ratios against their targets (and by how much
a missed one is short), PNG plots, bench/FINDINGS.md verbatim, and the older
suites' ``latest.json`` as an appendix. Rendering never re-runs anything:

    .venv/bin/python bench/report.py                       # re-render the repo's page
    .venv/bin/python bench/report.py --results DIR --out DIR/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata
import json
import math
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from manhattan.bench.rows import Ratio, Row

ROOT = Path(__file__).resolve().parent.parent  # the repository (bench/ is its child)

RESULTS_ENV = "MANHATTAN_BENCH_RESULTS"
DEFAULT_RESULTS = ROOT / "bench" / "results"
DEFAULT_MARKDOWN = ROOT / "BENCHMARKS.md"
DEFAULT_PLOTS = ROOT / "bench" / "plots"
DEFAULT_FINDINGS = ROOT / "bench" / "FINDINGS.md"
LEGACY = "latest.json"  # bench/run.py's document of the older (Result-based) suites
PERCENTILES = (("p50_us", "p50"), ("p95_us", "p95"), ("p99_us", "p99"), ("p999_us", "p99.9"))


# -- the results contract -------------------------------------------------------------------


def results_dir() -> Path:
    """Where suites write their JSON: bench/run.py sets ``MANHATTAN_BENCH_RESULTS`` (a temp
    dir for --quick, so a smoke run never overwrites the repo's results)."""
    return Path(os.environ.get(RESULTS_ENV) or DEFAULT_RESULTS)


def write_results(directory: Path, suite: str, title: str, *, rows: list[Row],
                  ratios: list[Ratio], versions: dict[str, str], notes: list[str],
                  settings: dict[str, Any]) -> Path:
    """Write ``<directory>/<suite>.json`` in the contract format."""
    directory.mkdir(parents=True, exist_ok=True)
    document = {
        "suite": suite, "title": title,
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": settings, "versions": versions,
        "rows": [r.to_json() for r in rows], "ratios": [r.to_json() for r in ratios],
        "notes": notes,
    }
    path = directory / f"{suite}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


@dataclass
class SuiteResults:
    """One suite's document, rows and ratios parsed back."""

    suite: str
    title: str
    created_at: str
    settings: dict[str, Any]
    versions: dict[str, str]
    rows: list[Row]
    ratios: list[Ratio]
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SuiteResults":
        return cls(data["suite"], data.get("title", data["suite"]), data.get("created_at", ""),
                   data.get("settings", {}), data.get("versions", {}),
                   [Row.from_json(r) for r in data.get("rows", [])],
                   [Ratio.from_json(r) for r in data.get("ratios", [])],
                   list(data.get("notes", [])))


def load_results(directory: Path) -> list[SuiteResults]:
    """Every contract document in ``directory``, by suite name."""
    out = []
    for path in sorted(directory.glob("*.json")):
        if path.name == LEGACY:
            continue
        data = json.loads(path.read_text())
        if isinstance(data, dict) and "suite" in data and "rows" in data:
            out.append(SuiteResults.from_json(data))
    return out


# -- the machine ----------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    """What the numbers were measured on (read when rendering, on the same box)."""
    import psutil

    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        load = "unknown"
    return {
        "CPU": _cpu_model(), "cores": str(os.cpu_count()),
        "RAM": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()}",
        "load average (1/5/15 min, at render)": load,
        "python": platform.python_version(), "grpcio": _version("grpcio"),
        "rocksdict": _version("rocksdict"), "redis-py": _version("redis"),
        "hiredis": _version("hiredis"),
    }


# -- formatting -----------------------------------------------------------------------------


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def num(value: Any, digits: int | None = None) -> str:
    """Thousands separators; fewer decimals for bigger numbers; '-' for missing/NaN."""
    if not _finite(value):
        return "-"
    if digits is None:
        digits = 0 if abs(value) >= 100 else (1 if abs(value) >= 10 else 2)
    return f"{value:,.{digits}f}"


def rate_cell(row: Row) -> str:
    if not row.runs:
        return "-"
    if len(row.runs) == 1:
        return num(row.median)
    return f"{num(row.median)} ({num(row.low)}–{num(row.high)})"


def missed_by(r: Ratio) -> str:
    """'met', 'missed by N% (x.xx× short)', or '-' without a target."""
    if r.target is None or not _finite(r.value):
        return "-"
    if r.value >= r.target:
        return f"met (+{(r.value / r.target - 1) * 100:.0f}%)"
    return (f"missed by {(1 - r.value / r.target) * 100:.0f}% "
            f"({r.target - r.value:.2f}× short)")


def _table(header: list[str], lines: list[list[str]], align: str = "") -> list[str]:
    spec = [("---:" if i < len(align) and align[i] == "r" else "---") for i in range(len(header))]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(spec) + " |"]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |"
            for line in lines]
    return out


def suite_table(results: SuiteResults) -> list[str]:
    header = ["workload", "system", "median /s (min–max)", "unit", "runs",
              *(label + " µs" for _, label in PERCENTILES), "CPU µs/unit server", "client"]
    lines = [[row.workload, row.system, rate_cell(row), row.unit, str(len(row.runs)),
              *(num(row.latency_us.get(key)) for key, _ in PERCENTILES),
              num(row.cpu_server_us), num(row.cpu_client_us)] for row in results.rows]
    return _table(header, lines, "llrlrrrrrrr")


def ratio_table(ratios: list[Ratio]) -> list[str]:
    lines = [[r.name, r.numerator, r.denominator, f"{num(r.value, 2)}×",
              "-" if r.target is None else f"≥ {r.target:.2f}×",
              "-" if r.meets is None else ("yes" if r.meets else "**no**"), missed_by(r)]
             for r in ratios]
    return _table(["ratio", "Manhattan", "over", "value", "target", "met", "by"], lines,
                  "lllrrll")


# -- plots ----------------------------------------------------------------------------------


def _systems(rows: list[Row]) -> list[str]:
    return list(dict.fromkeys(r.system for r in rows))


def _workloads(rows: list[Row]) -> list[str]:
    return list(dict.fromkeys(r.workload for r in rows))


def plot_suite(results: SuiteResults, plots_dir: Path) -> list[Path]:
    """<suite>-throughput.png (grouped bars, min–max whiskers) and <suite>-latency.png
    (percentiles per system, one panel per workload); the paths written."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots_dir.mkdir(parents=True, exist_ok=True)
    rows = [r for r in results.rows if r.runs]
    written: list[Path] = []
    if rows:
        systems, workloads = _systems(rows), _workloads(rows)
        index = {(r.workload, r.system): r for r in rows}
        width = 0.8 / len(systems)
        fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(workloads) + 2), 4.2))
        for k, system in enumerate(systems):
            xs, heights, low, high = [], [], [], []
            for w, workload in enumerate(workloads):
                row = index.get((workload, system))
                if row is None:
                    continue
                xs.append(w + (k - (len(systems) - 1) / 2) * width)
                heights.append(row.median)
                low.append(row.median - row.low)
                high.append(row.high - row.median)
            ax.bar(xs, heights, width, label=system, yerr=[low, high], capsize=2)
        values = [r.median for r in rows if r.median > 0]
        if values and max(values) / min(values) > 30:
            ax.set_yscale("log")
        ax.set_xticks(range(len(workloads)),
                      [f"{w}\n({index_unit(rows, w)}/s)" for w in workloads], fontsize=8)
        ax.set_ylabel("per second (median, min–max)")
        ax.set_title(results.title, fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = plots_dir / f"{results.suite}-throughput.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    timed = [r for r in rows if any(_finite(r.latency_us.get(k)) for k, _ in PERCENTILES)]
    if timed:
        workloads = _workloads(timed)
        columns = min(3, len(workloads))
        lines = math.ceil(len(workloads) / columns)
        fig, axes = plt.subplots(lines, columns, figsize=(4.2 * columns, 3.3 * lines),
                                 squeeze=False)
        for ax, workload in zip(axes.flat, workloads):
            for row in (r for r in timed if r.workload == workload):
                points = [(label, row.latency_us.get(key)) for key, label in PERCENTILES
                          if _finite(row.latency_us.get(key))]
                ax.plot([p[0] for p in points], [max(p[1], 1) for p in points], marker="o",
                        label=row.system)
            ax.set_yscale("log")
            ax.set_title(workload, fontsize=9)
            ax.set_ylabel("µs")
            ax.legend(fontsize=7)
        for ax in list(axes.flat)[len(workloads):]:
            ax.axis("off")
        fig.suptitle(f"{results.title}: latency percentiles", fontsize=9)
        fig.tight_layout()
        path = plots_dir / f"{results.suite}-latency.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def index_unit(rows: list[Row], workload: str) -> str:
    return next((r.unit for r in rows if r.workload == workload), "ops")


# -- the page -------------------------------------------------------------------------------

METHOD = """\
Every system is started by the benchmark itself on loopback on this machine and stopped
after: Manhattan as 3 node processes (RF=3) plus, for the Twitter workload, the social
service process with its fan-out workers; Redis as one server and as a 3-master +
3-replica cluster (append-only file, fsync every second); clients are Python for every
system (Manhattan's SDK, redis-py with hiredis).

* **Warm-up** first, then **interleaved runs**: run 1 of every system and workload, then
  run 2, ... (the order of systems rotates), so a slow patch of the machine hits every
  system alike. A full run does at least 3 runs per system and workload; the table shows
  the **median rate with min–max** over the runs.
* **Latency** percentiles (p50/p95/p99/p99.9) come from an **HdrHistogram** (3 significant
  digits) of every call of every run, merged.
* **CPU per unit** is the CPU time (user + system) of *all* the system's server processes
  (server) and of the benchmark process (client) over the measured phases, divided by the
  units done (psutil, clock-tick resolution: a 0 means under 10 ms in all). The box has
  few cores, so CPU/unit is the honest cost when rates are bound by the machine.
* **Seeds** are fixed (each suite's settings show its seed): every system gets the same
  data and the same request stream.
* **Ratios** are Manhattan's median over the peer's (or the limit's) median from the same
  run; targets are reported, not asserted.
"""


def _settings_line(results: SuiteResults) -> str:
    keys = ", ".join(f"{k}={v}" for k, v in results.settings.items())
    return f"Settings: {keys}." if keys else ""


def render_markdown(suites: list[SuiteResults], host: dict[str, str], *,
                    plots: dict[str, list[str]], findings: str | None,
                    legacy: dict[str, Any] | None) -> str:
    """The whole page; ``plots``: suite -> image paths relative to the page."""
    versions: dict[str, str] = {}
    for results in suites:
        versions.update(results.versions)
    out = ["# Benchmarks", "",
           "Generated by `make bench` (or `.venv/bin/python bench/report.py` from existing "
           "results) — do not edit by hand; hand-written findings go in `bench/FINDINGS.md`.",
           "", "## Machine", ""]
    out += _table(["", ""], [[k, v] for k, v in host.items()] +
                  [[f"{name} (version)", v] for name, v in sorted(versions.items())])
    out += ["", "## Method", "", METHOD]
    all_ratios = [(s, r) for s in suites for r in s.ratios]
    if all_ratios:
        out += ["## Ratios and targets", ""]
        lines = [[s.suite, r.name, f"{num(r.value, 2)}×",
                  "-" if r.target is None else f"≥ {r.target:.2f}×",
                  "-" if r.meets is None else ("yes" if r.meets else "**no**"), missed_by(r)]
                 for s, r in all_ratios]
        out += _table(["suite", "ratio", "value", "target", "met", "by"], lines, "llrrll")
        out.append("")
    for results in suites:
        out += [f"## {results.title}", "", f"Suite `{results.suite}`, measured "
                f"{results.created_at}. {_settings_line(results)}", ""]
        out += suite_table(results)
        out.append("")
        if results.ratios:
            out += ratio_table(results.ratios)
            out.append("")
        for image in plots.get(results.suite, []):
            out += [f"![{results.suite}: {Path(image).stem}]({image})", ""]
        if results.notes:
            out += [f"* {note}" for note in results.notes]
            out.append("")
    if findings is not None:
        out += ["## Findings (bench/FINDINGS.md)", "", findings.rstrip(), ""]
    if legacy:
        out += legacy_appendix(legacy, {s.suite for s in suites})
    return "\n".join(out).rstrip() + "\n"


def legacy_appendix(document: dict[str, Any], covered: set[str]) -> list[str]:
    """bench/run.py's latest.json (older suites, ratios to same-run baselines) as tables."""
    suites = {k: v for k, v in document.get("suites", {}).items() if k not in covered}
    if not suites:
        return []
    settings = document.get("settings", {})
    out = ["## Appendix: the older suites (bench/results/latest.json)", "",
           f"Measured {document.get('created_at', '?')}; quick={settings.get('quick')}, "
           f"rounds={settings.get('rounds')}, load average before "
           f"{document.get('load_average_before')}.", ""]
    for name, results in suites.items():
        lines = [[r.get("name", ""), num(r.get("ops_per_s")) +
                  (" rec/s" if r.get("unit") == "records" else ""),
                  num(r.get("p50_us")), num(r.get("p99_us")),
                  "baseline" if r.get("is_baseline") else
                  ("-" if r.get("ratio") is None else f"{num(r['ratio'], 2)}×"),
                  "-" if r.get("target") is None else f"≥ {r['target']:.2f}×",
                  {True: "yes", False: "**no**"}.get(r.get("meets_target"), "-")]
                 for r in results]
        out += [f"### {name}", ""]
        out += _table(["benchmark", "ops/s", "p50 µs", "p99 µs", "ratio", "target", "met"],
                      lines, "lrrrrrl")
        out.append("")
    return out


FINDINGS_PLACEHOLDER = "# Findings\n\n_Profiles and before/after ratios go here._\n"


def render_report(results: Path = DEFAULT_RESULTS, markdown: Path = DEFAULT_MARKDOWN,
                  plots_dir: Path = DEFAULT_PLOTS, findings: Path = DEFAULT_FINDINGS,
                  host: dict[str, str] | None = None) -> Path:
    """Read every result in ``results``, write the plots and ``markdown``; its path."""
    suites = load_results(results)
    images: dict[str, list[str]] = {}
    for suite in suites:
        paths = plot_suite(suite, plots_dir)
        images[suite.suite] = [os.path.relpath(p, markdown.parent) for p in paths]
    legacy_path = results / LEGACY
    legacy = json.loads(legacy_path.read_text()) if legacy_path.exists() else None
    text = findings.read_text() if findings.exists() else None
    markdown.parent.mkdir(parents=True, exist_ok=True)
    markdown.write_text(render_markdown(suites, host or machine(), plots=images,
                                        findings=text, legacy=legacy))
    return markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/report.py", description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                        help="directory of <suite>.json results")
    parser.add_argument("--out", type=Path, default=DEFAULT_MARKDOWN, help="markdown to write")
    parser.add_argument("--plots", type=Path, default=None,
                        help="where the PNGs go (default: bench/plots, or plots/ next to --out)")
    parser.add_argument("--findings", type=Path, default=DEFAULT_FINDINGS)
    args = parser.parse_args(argv)
    plots = args.plots or (DEFAULT_PLOTS if args.out.resolve() == DEFAULT_MARKDOWN
                           else args.out.parent / "plots")
    path = render_report(args.results, args.out, plots, args.findings)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
