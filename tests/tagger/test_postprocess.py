from __future__ import annotations

import numpy as np
import pytest

from tagger.detection.postprocess import box_iou, decode_ultralytics, decode_yolox, nms, select
from tagger.detections import Detections


def yolox_raw(anchors: int, classes: int) -> np.ndarray:
    raw = np.zeros((anchors, 5 + classes), dtype=np.float32)
    raw[:, 2:4] = np.log(1.0)  # w = h = stride
    return raw


def test_given_known_grid_outputs_when_decoded_then_boxes_in_input_pixels() -> None:
    # A 32x32 input with strides 8/16/32 has 4x4 + 2x2 + 1x1 = 21 anchors.
    raw = yolox_raw(21, 2)
    raw[5] = [0.5, 0.5, np.log(2.0), np.log(1.0), 0.8, 0.5, 1.0]  # stride 8, cell (x=1, y=1)
    raw[16] = [0.0, 1.0, 0.0, 0.0, 1.0, 0.9, 0.1]  # stride 16, first cell of that head, row 0 col 0
    raw[20] = [0.5, 0.5, 0.0, 0.0, 0.5, 0.2, 0.2]  # stride 32, the only cell

    boxes, scores = decode_yolox(raw, 32, 32, (8, 16, 32))

    # centre (1.5 * 8, 1.5 * 8) = (12, 12), w = 2 * 8, h = 8
    np.testing.assert_allclose(boxes[5], [4.0, 8.0, 20.0, 16.0])
    np.testing.assert_allclose(scores[5], [0.4, 0.8])
    np.testing.assert_allclose(boxes[16], [-8.0, 8.0, 8.0, 24.0])
    np.testing.assert_allclose(boxes[20], [0.0, 0.0, 32.0, 32.0])
    np.testing.assert_allclose(scores[20], [0.1, 0.1])


def test_given_output_of_wrong_anchor_count_when_decoded_then_refused() -> None:
    with pytest.raises(ValueError, match="21"):
        decode_yolox(yolox_raw(20, 2), 32, 32, (8, 16, 32))


def test_given_ultralytics_output_when_decoded_then_transposed_xyxy_and_class_scores() -> None:
    raw = np.array(
        [[50.0, 10.0], [40.0, 10.0], [20.0, 4.0], [10.0, 2.0], [0.9, 0.1], [0.05, 0.7]], dtype=np.float32
    )

    boxes, scores = decode_ultralytics(raw)

    np.testing.assert_allclose(boxes, [[40.0, 35.0, 60.0, 45.0], [8.0, 9.0, 12.0, 11.0]])
    np.testing.assert_allclose(scores, [[0.9, 0.05], [0.1, 0.7]])


def test_given_scores_when_selected_with_class_filter_then_best_allowed_class_above_threshold() -> None:
    boxes = np.array([[0, 0, 1, 1], [0, 0, 2, 2], [0, 0, 3, 3]], dtype=np.float32)
    scores = np.array([[0.9, 0.6], [0.2, 0.1], [0.95, 0.5]], dtype=np.float32)

    kept = select(boxes, scores, confidence_threshold=0.3, classes={1})

    assert kept == Detections(
        xyxy=np.array([[0, 0, 1, 1], [0, 0, 3, 3]], dtype=np.float32),
        confidence=np.array([0.6, 0.5], dtype=np.float32),
        class_id=np.array([1, 1]),
    )


def test_box_iou_of_known_boxes() -> None:
    a = np.array([[0, 0, 10, 10]], dtype=np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]], dtype=np.float32)

    np.testing.assert_allclose(box_iou(a, b), [[1.0, 1 / 3, 0.0, 0.0]], rtol=1e-6)


def test_given_overlapping_boxes_when_nms_then_lower_score_of_same_class_suppressed_only() -> None:
    detections = Detections(
        xyxy=np.array([[0, 0, 10, 10], [1, 1, 11, 11], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=np.float32),
        confidence=np.array([0.8, 0.9, 0.7, 0.6], dtype=np.float32),
        class_id=np.array([0, 0, 1, 0]),
    )

    kept = nms(detections, iou_threshold=0.5)

    assert kept == Detections(
        xyxy=np.array([[1, 1, 11, 11], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=np.float32),
        confidence=np.array([0.9, 0.7, 0.6], dtype=np.float32),
        class_id=np.array([0, 1, 0]),
    )


def test_given_max_detections_when_nms_then_only_the_best_survive() -> None:
    detections = Detections(
        xyxy=np.array([[0, 0, 1, 1], [5, 5, 6, 6], [9, 9, 10, 10]], dtype=np.float32),
        confidence=np.array([0.1, 0.3, 0.2], dtype=np.float32),
        class_id=np.array([0, 0, 0]),
    )

    assert nms(detections, 0.5, max_detections=2).confidence.tolist() == pytest.approx([0.3, 0.2])


def test_nms_of_nothing_is_nothing() -> None:
    assert nms(Detections.empty(), 0.5) == Detections.empty()
