"""One ``bench/run.py --quick`` run of the comparative suites, shared by the tests
that check its output (structure only: nothing here looks at speed)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUICK_SUITES = ("ycsb", "targets", "twitter", "capacity", "growth")


@dataclass(frozen=True)
class QuickRun:
    out: Path  # results/, BENCHMARKS.md and plots/ of the run
    legacy_json: Path  # bench/run.py's own table of every suite (under out by default)
    repo_untouched: bool  # the repo's results, plots and BENCHMARKS.md were not rewritten


def _repo_outputs() -> dict[Path, int]:
    paths = [*(ROOT / "bench" / "results").glob("*"), *(ROOT / "bench" / "plots").glob("*"),
             ROOT / "BENCHMARKS.md"]
    return {p: p.stat().st_mtime_ns for p in paths if p.exists()}


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> QuickRun:
    out = tmp_path_factory.mktemp("bench-quick")
    before = _repo_outputs()
    suites = [arg for name in QUICK_SUITES for arg in ("--suite", name)]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", *suites,
         "--out", str(out), "--workdir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return QuickRun(out, out / "results" / "latest.json", _repo_outputs() == before)
