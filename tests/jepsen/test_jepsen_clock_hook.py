"""The node's clock-offset hook the harness uses for clock faults (manhattan/hlc.py)."""

from __future__ import annotations

from manhattan.hlc import HybridClock, OffsetWallClock, physical_ms, wall_clock_from, wall_clock_ms
from manhattan.node.config import load_config


def test_offset_file_moves_the_wall_clock_and_can_change_at_runtime(tmp_path) -> None:
    path = tmp_path / "offset"
    clock = OffsetWallClock(str(path), poll_s=0.0)
    assert abs(clock() - wall_clock_ms()) < 50  # missing file: no offset
    path.write_text("5000")
    assert 4950 < clock() - wall_clock_ms() < 5050
    path.write_text("-3000")
    assert -3050 < clock() - wall_clock_ms() < -2950
    path.write_text("garbage")
    assert clock.offset_ms() == 0


def test_offset_is_polled_not_read_on_every_call(tmp_path) -> None:
    path = tmp_path / "offset"
    path.write_text("1000")
    clock = OffsetWallClock(str(path), poll_s=60.0)
    assert clock.offset_ms() == 1000
    path.write_text("2000")
    assert clock.offset_ms() == 1000  # cached until the poll interval passes


def test_hybrid_clock_follows_the_offset_and_never_goes_back(tmp_path) -> None:
    path = tmp_path / "offset"
    path.write_text("4000")
    hlc = HybridClock(OffsetWallClock(str(path), poll_s=0.0))
    ahead = hlc.now()
    assert physical_ms(ahead) - wall_clock_ms() > 3900
    path.write_text("0")
    assert hlc.now() > ahead  # the clock stepped back; the HLC does not


def test_config_default_is_the_system_clock(tmp_path) -> None:
    assert load_config(environ={}).clock.offset_file == ""
    assert wall_clock_from("") is wall_clock_ms
    config = load_config(environ={"MANHATTAN_CLOCK_OFFSET_FILE": str(tmp_path / "o")})
    assert isinstance(wall_clock_from(config.clock.offset_file), OffsetWallClock)
