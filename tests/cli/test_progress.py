"""Progress per stage: the bars the CLI draws, and the hook the sample loader calls."""

from __future__ import annotations

import io

from rich.console import Console

from manhattan.cli.progress import StageProgress
from manhattan.services import sample
from tests.services.conftest import running_social


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=80, force_terminal=False, color_system=None), out


def test_each_stage_gets_a_bar_that_ends_full_and_the_total_time_is_printed():
    console, out = _console()
    with StageProgress("ready", console=console) as progress:
        for done in range(4):
            progress("cluster", done, 3)
        progress("users", 500, 4000)       # a new stage completes the one before
        progress.finish("users")
        progress.finish("fan-out")          # a stage with nothing to do still ends full
    text = out.getvalue()
    for stage, figures in (("cluster", "3/3"), ("users", "4000/4000"), ("fan-out", "1/1")):
        line = next(line for line in text.splitlines() if stage in line)
        assert figures in line, text
    assert "ready: done in" in text.splitlines()[-1]
    assert progress.elapsed_s > 0


def test_a_failed_command_does_not_claim_to_be_done():
    console, out = _console()
    try:
        with StageProgress("ready", console=console) as progress:
            progress("cluster", 1, 3)
            raise RuntimeError("node 2 did not start")
    except RuntimeError:
        pass
    assert "done in" not in out.getvalue()


def test_the_sample_loader_reports_users_and_follows_up_to_their_totals(
        social_cluster, loop_thread):
    network = sample.generate(60)
    reports: list[tuple[str, int, int]] = []
    with running_social(social_cluster, loop_thread, workers=False) as social:
        loop_thread.run(sample.load(social, network, on_progress=lambda *r: reports.append(r)))
    by_stage: dict[str, list[tuple[int, int]]] = {}
    for stage, done, total in reports:
        by_stage.setdefault(stage, []).append((done, total))
    assert list(by_stage) == ["users", "follows", "counts"]
    done, total = by_stage["users"][-1]
    assert done == total >= 2 * 60  # two records per user (and the celebrity set)
    assert by_stage["counts"][-1][0] == by_stage["counts"][-1][1] > 0  # counter adds
    assert by_stage["follows"][-1] == (2 * len(network.edges), 2 * len(network.edges))
    for figures in by_stage.values():
        dones = [d for d, _ in figures]
        assert dones == sorted(dones) and all(0 <= d <= t for d, t in figures)
