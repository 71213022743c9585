from __future__ import annotations

import numpy as np

from tagger.keyframes import interpolate_boxes, simplify


def test_given_linear_motion_when_simplified_then_only_the_ends_remain() -> None:
    times = list(range(0, 1000, 100))
    boxes = np.array([[0.1 + 0.05 * i, 0.2, 0.1, 0.1] for i in range(10)])

    assert simplify(times, boxes, 0.01) == [0, 9]


def test_given_a_turn_when_simplified_then_the_corner_is_kept() -> None:
    times = list(range(0, 900, 100))
    xs = [0.1, 0.2, 0.3, 0.4, 0.5, 0.4, 0.3, 0.2, 0.1]
    boxes = np.array([[x, 0.5, 0.1, 0.1] for x in xs])

    assert simplify(times, boxes, 0.01) == [0, 4, 8]


def test_given_jittery_track_when_simplified_then_interpolation_stays_within_tolerance() -> None:
    rng = np.random.default_rng(3)
    times = sorted(rng.choice(5000, size=60, replace=False).tolist())
    boxes = np.cumsum(rng.normal(0, 0.01, size=(60, 4)), axis=0) + 0.3

    kept = simplify(times, boxes, 0.01)
    rebuilt = interpolate_boxes([times[i] for i in kept], boxes[kept], times)

    assert kept[0] == 0
    assert kept[-1] == 59
    assert np.abs(rebuilt - boxes).max() <= 0.01
    assert len(kept) < 60


def test_one_or_two_boxes_are_kept_as_they_are() -> None:
    assert simplify([5], np.array([[0.1, 0.1, 0.2, 0.2]]), 0.01) == [0]
    assert simplify([5, 9], np.zeros((2, 4)), 0.01) == [0, 1]
