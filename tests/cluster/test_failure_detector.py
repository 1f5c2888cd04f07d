"""The phi-accrual detector keeps its window's mean as heartbeats arrive (issue 16.7:
no sum over 100 samples per peer per call) and judges exactly as the textbook
formula over the whole window does."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from manhattan.cluster.failure_detector import _MIN_INTERVAL_S, _WINDOW, PhiAccrualDetector


def _reference_phi(beats: list[float], now: float, expected: float) -> float:
    """phi from scratch: the mean of the last ``_WINDOW`` intervals."""
    intervals = [max(b - a, _MIN_INTERVAL_S) for a, b in zip(beats, beats[1:])][-_WINDOW:]
    mean = sum(intervals) / len(intervals) if intervals else expected
    return (now - beats[-1]) / (mean * math.log(10))


@settings(max_examples=200, deadline=None)
@given(gaps=st.lists(st.floats(0.0, 5.0, allow_nan=False), min_size=1, max_size=350),
       wait=st.floats(0.0, 60.0, allow_nan=False),
       threshold=st.floats(0.5, 16.0, allow_nan=False))
def test_liveness_matches_phi_over_the_whole_window(gaps, wait, threshold):
    now = [1000.0]
    detector = PhiAccrualDetector(threshold=threshold, clock=lambda: now[0])
    beats = []
    for gap in gaps:
        now[0] += gap
        detector.heartbeat(7)
        beats.append(now[0])
    now[0] += wait
    expected = _reference_phi(beats, now[0], detector.expected_interval_s)
    assert math.isclose(detector.phi(7), expected, rel_tol=1e-9, abs_tol=1e-9)
    if not math.isclose(expected, threshold, rel_tol=1e-6):  # the boundary itself: either
        assert detector.is_alive(7) == (expected < threshold)


def test_a_failed_or_unknown_peer_is_not_alive_until_it_beats_again():
    now = [0.0]
    detector = PhiAccrualDetector(clock=lambda: now[0])
    assert not detector.is_alive(1) and not detector.known_down(1)
    detector.heartbeat(1)
    assert detector.is_alive(1)
    detector.failure(1)
    assert not detector.is_alive(1) and detector.known_down(1)
    now[0] += 0.5
    detector.heartbeat(1)
    assert detector.is_alive(1)
    now[0] += 0.5 * math.log(10) * detector.threshold + 0.01  # past the threshold
    assert not detector.is_alive(1) and detector.known_down(1)
