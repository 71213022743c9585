from __future__ import annotations

import numpy as np

from tagger.sampling import DetectionSchedule
from tagger.video.shots import CutDetector, luma_difference


def panning(frames: int, seed: int) -> list[np.ndarray]:
    """Tiny frames of a textured scene sliding 1 px a frame (a pan)."""
    scene = np.random.default_rng(seed).integers(0, 255, size=(36, 200), dtype=np.uint8)
    scene = np.repeat(np.repeat(scene[:, :50], 1, axis=0), 4, axis=1)  # texture coarser than the motion
    return [np.ascontiguousarray(scene[:, i : i + 64]) for i in range(frames)]


def test_luma_difference_of_known_frames() -> None:
    a = np.zeros((4, 4), dtype=np.uint8)
    b = np.full((4, 4), 10, dtype=np.uint8)

    assert (luma_difference(a, b), luma_difference(a, a), luma_difference(a, np.zeros((2, 2), np.uint8))) == (
        10.0,
        0.0,
        255.0,
    )


def test_given_two_pans_joined_by_a_hard_cut_when_fed_then_only_the_cut_is_found() -> None:
    frames = panning(30, seed=1) + panning(30, seed=2)
    detector = CutDetector(threshold=28.0)

    cuts = [i for i, frame in enumerate(frames) if detector.update(frame)]

    assert cuts == [30]


def test_given_a_steady_fast_pan_when_fed_then_no_cut() -> None:
    scene = np.random.default_rng(0).integers(0, 255, size=(36, 4000), dtype=np.uint8)
    scene = np.repeat(scene[:, :1000], 4, axis=1)
    # Large but steady frame-to-frame differences: the relative test keeps this from reading as cuts.
    frames = [np.ascontiguousarray(scene[:, i * 3 : i * 3 + 64]) for i in range(40)]
    detector = CutDetector(threshold=28.0)

    assert [i for i, frame in enumerate(frames[:10]) if detector.update(frame)] == []
    assert not any(detector.update(frame) for frame in frames[10:])


def test_schedule_detects_at_the_rate_and_densely_after_cuts() -> None:
    schedule = DetectionSchedule(sample_fps=5.0, frames_after_cut=2)
    cut_at = {990}

    chosen = [t for t in range(0, 2000, 33) if schedule.wants(t, t in cut_at)]

    # First frame, then half a period (100 ms) later, then every 200 ms; the same after the cut.
    assert chosen[:4] == [0, 99, 297, 495]
    assert [t for t in chosen if t >= 990][:3] == [990, 1089, 1287]
