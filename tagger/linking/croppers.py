"""The evaluation's "find the product in the photo" step, pluggable: whole photo, or a detector's box.

COCO detectors have no class for a milk carton; when the detector finds no product-like box the
photo itself is linked, exactly what a production placement would never need but a still photo does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from tagger.detections import Detections
from tagger.linking.images import MIN_SIDE_PX, Image
from tagger.placements import LINK_CROP_MARGIN, widened

# A box must cover this share of the photo to be "the product" (smaller ones are shelf neighbours).
MIN_BOX_AREA_SHARE = 0.1
# The same margin tagging keeps around a placement's crops, so the evaluation links what episodes do.
BOX_MARGIN = LINK_CROP_MARGIN


class Cropper(Protocol):
    @property
    def name(self) -> str: ...

    def crops(self, image: Image) -> list[Image]:
        """The crops to link for this photo; never empty."""
        ...


class WholeImageCropper:
    name = "whole-image"

    def crops(self, image: Image) -> list[Image]:
        return [image]


class BoxDetector(Protocol):
    def detect(self, frames: Sequence[Image]) -> list[Detections]: ...


def best_box_crop(image: Image, detections: Detections) -> Image | None:
    """The most confident large-enough box, widened by a margin; None when there is none."""
    if len(detections) == 0:
        return None
    height, width = image.shape[:2]
    boxes = detections.xyxy
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    eligible = np.flatnonzero(areas >= MIN_BOX_AREA_SHARE * height * width)
    if eligible.size == 0:
        return None
    crop = widened(image, boxes[eligible[np.argmax(detections.confidence[eligible])]], BOX_MARGIN)
    if min(crop.shape[:2]) < MIN_SIDE_PX:
        return None
    return crop


class DetectorCropper:
    """Crops the detector's best product box; the whole photo when it finds none."""

    def __init__(self, detector: BoxDetector, name: str = "detector") -> None:
        self._detector = detector
        self.name = name
        self.fallbacks = 0

    def crops(self, image: Image) -> list[Image]:
        (detections,) = self._detector.detect([image])
        crop = best_box_crop(image, detections)
        if crop is None:
            self.fallbacks += 1
            return [image]
        return [crop]
