"""The ``bench/run.py --quick`` runs of the comparative suites, shared by the tests
that check its output (structure only: nothing here looks at speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Two groups run as two processes at once: each mostly waits on its own nodes and Redis
# processes starting, so the pair takes about as long as the longer group alone.
QUICK_GROUPS = (("ycsb", "targets", "twitter"), ("capacity", "growth"))


@dataclass(frozen=True)
class QuickRun:
    out: Path  # results/, BENCHMARKS.md and plots/ of the first group's run
    outs: tuple[Path, ...]  # every group's output directory, the first group's first
    legacy_json: Path  # bench/run.py's own table of the first group's suites
    repo_untouched: bool  # the repo's results, plots and BENCHMARKS.md were not rewritten

    def result(self, suite: str) -> dict:
        """The results document of ``suite``, from whichever group ran it."""
        for out in self.outs:
            path = out / "results" / f"{suite}.json"
            if path.exists():
                return json.loads(path.read_text())
        raise AssertionError(f"no quick run wrote {suite}.json under {self.outs}")


def _repo_outputs() -> dict[Path, int]:
    paths = [*(ROOT / "bench" / "results").glob("*"), *(ROOT / "bench" / "plots").glob("*"),
             ROOT / "BENCHMARKS.md"]
    return {p: p.stat().st_mtime_ns for p in paths if p.exists()}


def _start(group: tuple[str, ...], out: Path) -> subprocess.Popen:
    suites = [arg for name in group for arg in ("--suite", name)]
    return subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", *suites,
         "--out", str(out), "--workdir", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> QuickRun:
    before = _repo_outputs()
    outs = tuple(tmp_path_factory.mktemp(f"bench-quick-{i}") for i in range(len(QUICK_GROUPS)))
    procs = [_start(group, out) for group, out in zip(QUICK_GROUPS, outs)]
    try:
        results = [proc.communicate(timeout=540) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (output, _) in zip(procs, results):
        assert proc.returncode == 0, output[-6000:]
    return QuickRun(outs[0], outs, outs[0] / "results" / "latest.json",
                    _repo_outputs() == before)
