"""The evaluation's "find the product in the photo" step, pluggable: whole photo, or a detector's box.

COCO detectors have no class for a milk carton; when the detector finds no product-like box the
photo itself is linked, exactly what a production placement would never need but a still photo does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from tagger.arrays import Image
from tagger.detections import Detections
from tagger.linking.images import MIN_SIDE_PX
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
    """The large-enough box nearest the photo's centre, widened by a margin; None when there is none.

    A labelled photo names the product the photographer framed, so the crop should be that product's
    box: in an episode every tracked box is its own placement and nothing has to be picked. The most
    confident box was often a neighbour on the shelf; on grocery-dev (detector crops, 8 fold seeds)
    the central box gave packaged top-1 / top-5 0.841 / 0.970 instead of 0.836 / 0.958, and confident
    answers for products missing from the catalog 0.3 % instead of 1.3 % (BENCHMARKS.md, Linking)."""
    if len(detections) == 0:
        return None
    height, width = image.shape[:2]
    boxes = detections.xyxy
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    eligible = np.flatnonzero(areas >= MIN_BOX_AREA_SHARE * height * width)
    if eligible.size == 0:
        return None
    centres = (boxes[eligible, :2] + boxes[eligible, 2:]) / 2
    offsets = np.hypot(centres[:, 0] - width / 2, centres[:, 1] - height / 2)
    # Nearest the centre; among equally central boxes the most confident.
    chosen = eligible[np.lexsort((-detections.confidence[eligible], offsets))[0]]
    crop = widened(image, boxes[chosen], BOX_MARGIN)
    if min(crop.shape[:2]) < MIN_SIDE_PX:
        return None
    return crop


class DetectorCropper:
    """Crops the detector's product box nearest the centre; the whole photo when it finds none."""

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
