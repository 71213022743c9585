"""The evaluation's crop step: the detector's best product box, or the whole photo."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tagger.detections import Detections
from tagger.linking.croppers import DetectorCropper, best_box_crop


class ListDetector:
    def __init__(self, detections: Detections) -> None:
        self.detections = detections

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        return [self.detections for _ in frames]


def _detections(boxes: list[list[float]], confidences: list[float]) -> Detections:
    return Detections(
        xyxy=np.asarray(boxes, dtype=np.float32),
        confidence=np.asarray(confidences, dtype=np.float32),
        class_id=np.full(len(boxes), 39, dtype=np.int64),
    )


def test_the_large_box_nearest_the_centre_is_cropped_with_a_margin() -> None:
    photo = np.zeros((200, 200, 3), dtype=np.uint8)
    detections = _detections([[50, 50, 150, 150], [0, 0, 20, 20], [10, 10, 110, 110]], [0.5, 0.99, 0.4])

    crop = best_box_crop(photo, detections)

    assert crop is not None
    assert crop.shape == (140, 140, 3)  # 100 px box + 20 % each side, as tagging keeps its crops


def test_a_more_confident_neighbour_off_centre_is_not_the_product() -> None:
    photo = np.zeros((200, 200, 3), dtype=np.uint8)
    neighbour: list[float] = [0, 0, 80, 90]
    product: list[float] = [70, 60, 130, 140]

    crop = best_box_crop(photo, _detections([neighbour, product], [0.95, 0.6]))

    assert crop is not None
    assert crop.shape == (112, 84, 3)  # the centred 60x80 box, 20 % wider each way
    # Between equally central boxes the more confident one wins.
    tighter = best_box_crop(photo, _detections([product, [65, 55, 135, 145]], [0.6, 0.9]))
    assert tighter is not None
    assert tighter.shape == (126, 98, 3)


def test_no_product_box_falls_back_to_the_whole_photo_and_is_counted() -> None:
    photo = np.zeros((200, 200, 3), dtype=np.uint8)
    cropper = DetectorCropper(ListDetector(Detections.empty()))

    crops = cropper.crops(photo)

    assert [crop.shape for crop in crops] == [photo.shape]
    assert cropper.fallbacks == 1
