"""The pieces behind metrics, logs and snapshots, in process (no node needed)."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from manhattan.errors import AlreadyExists, InvalidRequest, NotFound
from manhattan.rpc import request_context
from manhattan.node.logs import configure_logging
from manhattan.node.metrics import NodeMetrics, RequestRate
from manhattan.node.snapshots import RestoreError, SnapshotStore, restore
from manhattan.storage import Entry, RocksEngine, Version, Write


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_request_rate_averages_over_the_last_minute() -> None:
    clock = FakeClock()
    rate = RequestRate(clock=clock)
    total = 0
    for _ in range(120):  # 10 requests a second for two minutes
        clock.now += 1
        total += 10
        rate.tick(total, clock.now)
    assert rate.per_second(total) == pytest.approx(10, rel=0.05)
    clock.now += 600  # idle for ten minutes: the rate decays instead of freezing
    assert rate.per_second(total) < 1


def test_repair_and_streaming_state_read_back_what_the_repair_code_sets() -> None:
    metrics = NodeMetrics()
    assert not metrics.repair_state().running and metrics.streaming_state().active_transfers == 0
    metrics.antientropy_running.set(1)
    metrics.antientropy_progress.set(0.25)
    metrics.antientropy_keys_compared.inc(500)
    metrics.antientropy_last_completed.set(1_700_000_000.5)
    metrics.streaming_active.labels("in").set(1)
    metrics.streaming_progress.labels("in").set(0.4)
    metrics.streaming_progress.labels("out").set(0.9)  # no transfer out: not counted
    metrics.streaming_records.labels("in").inc(70)
    metrics.streaming_records.labels("out").inc(30)
    repair, streaming = metrics.repair_state(), metrics.streaming_state()
    assert (repair.running, repair.progress, repair.keys_compared) == (True, 0.25, 500)
    assert repair.last_completed_ms == 1_700_000_000_500
    assert (streaming.active_transfers, streaming.progress, streaming.records) == (1, 0.4, 100)


def test_two_nodes_in_one_process_keep_separate_metrics() -> None:
    first, second = NodeMetrics(), NodeMetrics()
    first.observe_request("Put", "OK", 0.001, "t")
    assert first.registry.get_sample_value(
        "manhattan_requests_total", {"method": "Put", "code": "OK"}) == 1
    assert second.registry.get_sample_value(
        "manhattan_requests_total", {"method": "Put", "code": "OK"}) is None


@pytest.mark.parametrize("given, kept", [
    ("req-1:a/b+c=d_e.f", True), ("", False), ("has space", False), ("x" * 129, False),
    ("ü", False),
])
def test_a_callers_request_id_is_kept_only_when_sane(given: str, kept: bool) -> None:
    chosen = request_context.request_id_from([("x-request-id", given)])
    assert (chosen == given) is kept and chosen


def test_json_log_lines_carry_the_request_scope_only_inside_a_request() -> None:
    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    handler = configure_logging(7, "json", "info", stream=out)
    try:
        log = logging.getLogger("manhattan.test")
        log.info("outside")
        scope, token = request_context.begin("Get", [("x-request-id", "r-1")])
        request_context.set_tenant("acme")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("inside %s", "Get")
        request_context.end(token)
    finally:
        root.removeHandler(handler)
        for previous in saved[0]:
            root.addHandler(previous)
        root.setLevel(saved[1])
    outside, inside = [json.loads(line) for line in out.getvalue().splitlines()]
    assert outside["node_id"] == 7 and "request_id" not in outside and outside["msg"] == "outside"
    assert (inside["request_id"], inside["tenant"], inside["method"]) == ("r-1", "acme", "Get")
    assert inside["level"] == "error" and "ValueError: boom" in inside["exc"]


def _engine_with(path: Path, count: int) -> RocksEngine:
    engine = RocksEngine(path)
    engine.create_dataset("ds")
    engine.apply("ds", [Write(b"p", b"%04d" % i, Entry(Version(i + 1, 1), b"v"))
                        for i in range(count)])
    return engine


def test_snapshot_store_creates_lists_and_deletes(tmp_path: Path) -> None:
    engine = _engine_with(tmp_path / "db", 10)
    try:
        store = SnapshotStore(tmp_path, 4, engine, topology_epoch=lambda: 9)
        info = store.create("first")
        assert (info.name, info.node_id, info.topology_epoch, info.datasets) == \
            ("first", 4, 9, ("ds",))
        assert info.size_bytes > 0
        (store.root / ".half.partial").mkdir()  # a crash mid-checkpoint is never listed
        assert [s.name for s in store.list()] == ["first"] and store.count() == 1
        with pytest.raises(AlreadyExists):
            store.create("first")
        with pytest.raises(InvalidRequest):
            store.create("../up")
        store.delete("first")
        with pytest.raises(NotFound):
            store.delete("first")
        assert store.list() == []
    finally:
        engine.close()


def test_restore_puts_the_checkpoint_in_place_and_keeps_a_replaced_database(
        tmp_path: Path) -> None:
    engine = _engine_with(tmp_path / "src" / "db", 10)
    try:
        SnapshotStore(tmp_path / "src", 1, engine).create("s")
        engine.apply("ds", [Write(b"p", b"later", Entry(Version(99, 1), b"v"))])
    finally:
        engine.close()
    target = tmp_path / "dst"
    info, moved = restore(target, source=tmp_path / "src" / "snapshots" / "s")
    assert info.name == "s" and moved is None
    restored = RocksEngine(target / "db")
    try:
        assert restored.get_entry("ds", b"p", b"0009") is not None
        assert restored.get_entry("ds", b"p", b"later") is None
    finally:
        restored.close()
    with pytest.raises(RestoreError, match="--force"):
        restore(target, source=tmp_path / "src" / "snapshots" / "s")
    with pytest.raises(RestoreError, match="holds snapshot 's', not 'other'"):
        restore(target, name="other", source=tmp_path / "src" / "snapshots" / "s")
    _, moved = restore(target, source=tmp_path / "src" / "snapshots" / "s", force=True)
    assert moved is not None and (moved / "CURRENT").exists()
