"""The wrapper around `trackers`: ids unique over cuts, first sightings credited, boosts asked for."""

from __future__ import annotations

import threading

import numpy as np

from tagger.detections import Detections
from tagger.sampling import DetectionSchedule
from tagger.tracking import ShotTracker, first_sighting, too_fast


def one_box(x: float, confidence: float = 0.9, class_id: int = 0) -> Detections:
    return Detections(
        xyxy=np.array([[x, 100.0, x + 50.0, 150.0]], dtype=np.float32),
        confidence=np.array([confidence], dtype=np.float32),
        class_id=np.array([class_id], dtype=np.int64),
    )


def test_given_a_steady_box_when_tracked_then_its_first_sighting_is_credited_to_the_track() -> None:
    tracker = ShotTracker("bytetrack")

    first = tracker.update(one_box(100), t_ms=0)
    second = tracker.update(one_box(102), t_ms=333)

    assert len(first.boxes) == 0
    assert first.unsettled  # a confident box that is not yet a track: detect sooner
    assert second.boxes.tracker_id is not None
    assert second.boxes.tracker_id.tolist() == [0]
    # The tracker's own box for the first look (its Kalman state), credited to track 0.
    assert second.first_sightings == one_box(100).with_tracker_id(np.array([0]))
    assert not second.unsettled


def test_given_a_borderline_product_when_tracked_then_the_high_threshold_decides_if_it_confirms() -> None:
    # Two sparse looks at 0.47: the stock 0.5 never confirms it, ReelCart's sparse 0.45 does.
    stock = ShotTracker("botsort", high_threshold=0.5, camera_motion_compensation=False)
    sparse = ShotTracker("botsort", high_threshold=0.45, camera_motion_compensation=False)
    for tracker in (stock, sparse):
        tracker.update(one_box(100, confidence=0.47), t_ms=0)

    assert len(stock.update(one_box(102, confidence=0.47), t_ms=400).boxes) == 0
    confirmed = sparse.update(one_box(102, confidence=0.47), t_ms=400).boxes
    assert confirmed.tracker_id is not None
    assert confirmed.tracker_id.tolist() == [0]


def test_given_a_cut_when_reset_then_new_tracks_get_new_ids() -> None:
    tracker = ShotTracker("botsort")
    for t in (0, 333, 666):
        tracker.update(one_box(100), t_ms=t)

    tracker.reset()
    tracker.update(one_box(100), t_ms=1000)
    after = tracker.update(one_box(100), t_ms=1333)

    assert after.boxes.tracker_id is not None
    assert after.boxes.tracker_id.tolist() == [1]


def test_first_sighting_needs_the_same_class_and_a_nearby_box() -> None:
    unconfirmed = Detections(
        xyxy=np.array(
            [[95.0, 100.0, 145.0, 150.0], [300.0, 100.0, 350.0, 150.0], [40.0, 100.0, 90.0, 150.0]],
            dtype=np.float32,
        ),
        confidence=np.array([0.9, 0.9, 0.8], dtype=np.float32),
        class_id=np.array([0, 1, 1]),  # near but another class, far, near
        tracker_id=np.array([-1, -1, -1]),
    )
    box = (100.0, 100.0, 150.0, 150.0)

    assert first_sighting(box, 1, unconfirmed, among=[0, 1, 2]) == 2
    assert first_sighting(box, 1, unconfirmed, among=[0, 1]) is None


def test_too_fast_compares_the_motion_over_a_regular_period_with_the_box_size() -> None:
    box = (0.0, 0.0, 60.0, 60.0)
    moved = (20.0, 0.0, 80.0, 60.0)  # 20 px in 100 ms: 66 px in a 333 ms period, more than half of 60

    assert too_fast((0, box), (100, moved), regular_period_ms=333.0)
    assert not too_fast((0, box), (1000, moved), regular_period_ms=333.0)
    assert not too_fast(None, (100, moved), regular_period_ms=333.0)


def test_schedule_boost_raises_the_rate_from_one_lead_after_the_request_until_it_expires() -> None:
    schedule = DetectionSchedule(
        sample_fps=2.0, frames_after_cut=1, boost_fps=10.0, boost_ms=1000, lead_ms=200
    )
    chosen = []
    for t in range(0, 3000, 100):  # a frame every 100 ms
        if schedule.wants(t, starts_shot=False):
            chosen.append(t)
            schedule.done(t, unsettled=t == 500)

    # Every 500 ms; the burst asked for at 500 ms runs from 700 ms (one lead later) to 1500 ms.
    assert chosen == [0, 500, 700, 800, 900, 1000, 1100, 1200, 1300, 1400, 1900, 2400, 2900]


def test_schedule_with_feedback_waits_for_the_detector_then_goes_on() -> None:
    schedule = DetectionSchedule(sample_fps=10.0, lead_ms=100, await_feedback=True)
    assert schedule.wants(0, starts_shot=False)
    decided = threading.Event()

    def decoder() -> None:
        schedule.wants(300, starts_shot=False)  # 300 > 0 + lead: must wait for the answer about 0
        decided.set()

    thread = threading.Thread(target=decoder)
    thread.start()
    waited = not decided.wait(0.3)
    schedule.done(0, unsettled=False)
    thread.join(2.0)

    assert waited
    assert decided.is_set()


def test_a_closed_schedule_never_blocks_the_decoder() -> None:
    schedule = DetectionSchedule(sample_fps=10.0, lead_ms=100, await_feedback=True)
    schedule.wants(0, starts_shot=False)
    schedule.close()

    assert schedule.wants(500, starts_shot=False)
