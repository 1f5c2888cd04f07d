"""``bench/run.py --quick --suite serial`` runs end to end: Manhattan's SERIAL rows and
etcd's, one member and three (or a note saying why etcd is missing), with their ratios.
Structure only."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.bench.conftest import ROOT


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_serial_suite(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--suite", "serial",
         "--out", str(tmp_path), "--workdir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((tmp_path / "results" / "serial.json").read_text())
    systems = {r["system"] for r in doc["rows"]}
    assert {"manhattan SERIAL put(if_version)", "manhattan get SERIAL"} <= systems
    assert all(r["runs"] and all(rate > 0 for rate in r["runs"]) for r in doc["rows"])
    ratios = {r["name"] for r in doc["ratios"]}
    assert "SERIAL compare-and-set / QUORUM SYNC put" in ratios
    if "etcd Txn (mod_revision compare)" in systems:
        assert {"SERIAL compare-and-set / etcd Txn compare-and-swap",
                "get SERIAL / etcd linearizable get"} <= ratios
    else:
        assert any("etcd" in note for note in doc["notes"])
    if "etcd 3 members Txn (mod_revision compare)" in systems:
        assert {"SERIAL compare-and-set / etcd 3-member Txn compare-and-swap",
                "get SERIAL / etcd 3-member linearizable get"} <= ratios
    else:
        assert any("etcd-3" in note for note in doc["notes"])
