"""bench/report.py renders BENCHMARKS.md and plots from hand-made result files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from manhattan.bench import report
from manhattan.bench.rows import Row, ratio

HOST = {"CPU": "Test CPU @ 1 GHz", "cores": "2", "python": "3.11.0"}


def _rows() -> list[Row]:
    lat = {"p50_us": 1000.0, "p95_us": 2000.0, "p99_us": 3000.0, "p999_us": 9000.0}
    return [
        Row("twitter", "fan-out", "manhattan", "deliveries", [800.0, 1000.0, 900.0],
            cpu_server_us=12.5, cpu_client_us=1.5),
        Row("twitter", "fan-out", "redis-cluster", "deliveries", [1000.0, 1100.0, 1200.0]),
        Row("twitter", "home page", "manhattan", "pages", [300.0, 310.0, 290.0], dict(lat)),
        Row("twitter", "home page", "redis-cluster", "pages", [400.0, 410.0, 390.0], dict(lat)),
    ]


def _write(directory: Path) -> None:
    rows = _rows()
    ratios = [ratio("fan-out: Manhattan / redis-cluster", rows[0], rows[1], 1.0),
              ratio("home page: Manhattan / redis-cluster", rows[2], rows[3], 0.5),
              ratio("home page: untargeted", rows[2], rows[3])]
    report.write_results(directory, "twitter", "Twitter test suite", rows=rows, ratios=ratios,
                         versions={"redis-cluster": "redis 7.0.15"}, notes=["a note"],
                         settings={"seed": 7, "users": 10})


@pytest.fixture
def rendered(tmp_path: Path) -> tuple[Path, str]:
    results = tmp_path / "results"
    _write(results)
    (results / "latest.json").write_text(json.dumps({
        "created_at": "2026-01-01T00:00:00+00:00", "settings": {"quick": True, "rounds": 1},
        "suites": {"social": [{"name": "Snowflake next_id", "unit": "ops", "ops_per_s": 1.2e6,
                               "p50_us": None, "p99_us": None, "ratio": None, "target": None,
                               "is_baseline": False, "meets_target": True}],
                   "twitter": [{"name": "duplicate: must not show", "ops_per_s": 1.0}]}}))
    findings = tmp_path / "FINDINGS.md"
    findings.write_text("# Findings\n\nProfile: `coordinator.put` is 41% of samples.\n")
    page = report.render_report(results, tmp_path / "BENCHMARKS.md", tmp_path / "plots",
                                findings, host=HOST)
    return tmp_path, page.read_text()


def test_contract_document_round_trips(tmp_path: Path) -> None:
    _write(tmp_path)
    data = json.loads((tmp_path / "twitter.json").read_text())
    assert set(data) == {"suite", "title", "created_at", "settings", "versions", "rows",
                         "ratios", "notes"}
    loaded = report.load_results(tmp_path)[0]
    assert [r.median for r in loaded.rows] == [900.0, 1100.0, 300.0, 400.0]
    assert loaded.ratios[0].meets is False and loaded.ratios[1].meets is True


def test_results_dir_follows_the_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(report.RESULTS_ENV, str(tmp_path))
    assert report.results_dir() == tmp_path
    monkeypatch.delenv(report.RESULTS_ENV)
    assert report.results_dir() == report.DEFAULT_RESULTS


def test_machine_and_versions_are_listed(rendered) -> None:
    _, text = rendered
    assert "| CPU | Test CPU @ 1 GHz |" in text
    assert "| redis-cluster (version) | redis 7.0.15 |" in text
    assert "## Method" in text and "HdrHistogram" in text


def test_suite_table_has_median_min_max_percentiles_and_cpu(rendered) -> None:
    _, text = rendered
    assert "## Twitter test suite" in text
    assert ("| fan-out | manhattan | 900 (800–1,000) | deliveries | 3 | - | - | - | - "
            "| 12.5 | 1.50 |") in text
    assert ("| home page | manhattan | 300 (290–310) | pages | 3 "
            "| 1,000 | 2,000 | 3,000 | 9,000 |") in text
    assert "seed=7" in text and "* a note" in text


def test_ratios_say_met_or_missed_by_how_much(rendered) -> None:
    _, text = rendered
    # 900 / 1100 = 0.82 against 1.0: 18% short; 300 / 400 = 0.75 against 0.5: met.
    assert "| fan-out: Manhattan / redis-cluster | 0.82× | ≥ 1.00× | **no** | " \
           "missed by 18% (0.18× short) |" in text
    assert "| home page: Manhattan / redis-cluster | 0.75× | ≥ 0.50× | yes | met (+50%) |" \
        in text
    assert "| home page: untargeted | 0.75× | - | - | - |" in text


def test_missed_by_wording() -> None:
    rows = _rows()
    assert report.missed_by(ratio("x", rows[0], rows[1], 1.0)).startswith("missed by 18%")
    assert report.missed_by(ratio("x", rows[0], rows[1])) == "-"


def test_plots_are_written_and_linked(rendered) -> None:
    root, text = rendered
    for name in ("twitter-throughput.png", "twitter-latency.png"):
        path = root / "plots" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](plots/{name})" in text


def test_findings_are_included_verbatim(rendered) -> None:
    _, text = rendered
    assert "Profile: `coordinator.put` is 41% of samples." in text


def test_older_suites_appendix_skips_suites_with_their_own_file(rendered) -> None:
    _, text = rendered
    assert "## Appendix" in text and "Snowflake next_id" in text and "1,200,000" in text
    assert "duplicate: must not show" not in text


def test_renders_without_findings_or_results(tmp_path: Path) -> None:
    page = report.render_report(tmp_path / "none", tmp_path / "B.md", tmp_path / "plots",
                                tmp_path / "missing.md", host=HOST)
    text = page.read_text()
    assert text.startswith("# Benchmarks") and "Findings" not in text


def test_standalone_cli_rerenders(tmp_path: Path) -> None:
    _write(tmp_path / "results")
    out = tmp_path / "page" / "BENCHMARKS.md"
    assert report.main(["--results", str(tmp_path / "results"), "--out", str(out),
                        "--findings", str(tmp_path / "none.md")]) == 0
    assert "## Twitter test suite" in out.read_text()
    assert (tmp_path / "page" / "plots" / "twitter-throughput.png").exists()
