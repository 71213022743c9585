from __future__ import annotations

import numpy as np
import pytest

from tagger.detections import Detections


def make(boxes: list[list[float]], confidence: list[float], class_id: list[int]) -> Detections:
    return Detections(
        xyxy=np.array(boxes, dtype=np.float32).reshape(-1, 4),
        confidence=np.array(confidence, dtype=np.float32),
        class_id=np.array(class_id, dtype=np.int64),
    )


def test_given_mismatched_lengths_when_built_then_refused() -> None:
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        make([[0, 0, 1, 1], [0, 0, 2, 2]], [0.5], [0, 1])


def test_given_boxes_of_wrong_width_when_built_then_refused() -> None:
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        Detections(
            xyxy=np.zeros((2, 3), dtype=np.float32),
            confidence=np.zeros(2, dtype=np.float32),
            class_id=np.zeros(2, dtype=np.int64),
        )


def test_given_detections_when_masked_then_new_object_with_selected_rows() -> None:
    detections = make([[0, 0, 1, 1], [1, 1, 2, 2], [2, 2, 3, 3]], [0.9, 0.2, 0.5], [0, 1, 2])

    kept = detections[detections.confidence > 0.4]

    assert kept == make([[0, 0, 1, 1], [2, 2, 3, 3]], [0.9, 0.5], [0, 2])
    assert len(detections) == 3


def test_given_a_mask_of_wrong_length_when_filtering_then_refused() -> None:
    with pytest.raises(ValueError, match="mask has shape"):
        make([[0, 0, 1, 1]], [0.9], [0])[np.array([True, False])]


def test_given_caller_array_when_wrapped_then_caller_keeps_a_writable_array_and_ours_is_frozen() -> None:
    boxes = np.zeros((1, 4), dtype=np.float32)
    detections = Detections(
        xyxy=boxes, confidence=np.ones(1, dtype=np.float32), class_id=np.zeros(1, dtype=np.int64)
    )

    boxes[0, 0] = 5.0

    assert detections.xyxy[0, 0] == 0.0
    with pytest.raises(ValueError, match="read-only"):
        detections.xyxy[0, 0] = 1.0


def test_empty_has_zero_rows_of_every_field() -> None:
    empty = Detections.empty()

    assert (len(empty), empty.xyxy.shape, empty.confidence.shape, empty.class_id.shape) == (
        0,
        (0, 4),
        (0,),
        (0,),
    )


def test_given_letterboxed_boxes_when_scaled_back_and_clipped_then_frame_pixels() -> None:
    detections = make([[10, 20, 50, 60], [-10, -10, 2, 4], [300, 300, 400, 400]], [0.9, 0.8, 0.7], [0, 0, 1])

    restored = detections.scaled(0.5, (10.0, 0.0)).clipped(100, 100)

    assert restored == make([[0, 40, 80, 100]], [0.9], [0])


def test_a_tracker_id_column_is_checked_and_carried_through_every_transform() -> None:
    tracked = Detections(
        xyxy=np.array([[0, 0, 10, 10], [5, 5, 30, 30], [40, 40, 60, 60]], dtype=np.float32),
        confidence=np.array([0.9, 0.5, 0.7], dtype=np.float32),
        class_id=np.array([0, 1, 0]),
        tracker_id=np.array([4, -1, 7]),
    )
    assert tracked.tracker_id is not None
    assert not tracked.tracker_id.flags.writeable
    assert tracked[tracked.confidence > 0.6].tracker_id.tolist() == [4, 7]  # type: ignore[union-attr]
    assert tracked.scaled(2.0).tracker_id.tolist() == [4, -1, 7]  # type: ignore[union-attr]
    assert tracked.clipped(20, 20).tracker_id.tolist() == [4, -1]  # type: ignore[union-attr]
    both = Detections.concatenate([tracked, tracked[np.array([2])]])
    assert both.tracker_id.tolist() == [4, -1, 7, 7]  # type: ignore[union-attr]
    untracked = Detections(tracked.xyxy, tracked.confidence, tracked.class_id)
    assert untracked != tracked
    assert untracked.with_tracker_id(np.array([4, -1, 7])) == tracked
    with pytest.raises(ValueError, match=r"tracker_id \(2,\) must have shape \(3,\)"):
        Detections(tracked.xyxy, tracked.confidence, tracked.class_id, np.array([1, 2]))
    with pytest.raises(ValueError, match="cannot concatenate tracked and untracked detections"):
        Detections.concatenate([tracked, untracked])
