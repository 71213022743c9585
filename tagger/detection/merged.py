"""A brand's trained detector beside the general one: one detector to the pipeline, one merged set of
proposals. The brand's classes follow the general ones (ids offset), and a general box lying on a
brand box is dropped: one object, one box, and the brand's box says which product it is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from tagger.arrays import Image
from tagger.detection.backend import Detector
from tagger.detection.postprocess import box_iou
from tagger.detections import Detections
from tagger.models.cards import DetectorSpec


def prefer(first: Detections, second: Detections, overlap_iou: float) -> Detections:
    """`first`'s boxes plus those of `second` that overlap none of them by more than `overlap_iou`."""
    if len(first) == 0:
        return second
    if len(second) == 0:
        return first
    overlaps = box_iou(second.xyxy, first.xyxy)
    kept = second[np.all(overlaps <= overlap_iou, axis=1)]
    return first if len(kept) == 0 else Detections.concatenate([first, kept])


class MergedDetector:
    """Runs the general detector and a brand's; brand class `i` becomes `len(general classes) + i`."""

    def __init__(self, general: Detector, brand: Detector, *, overlap_iou: float = 0.45) -> None:
        self._general = general
        self._brand = brand
        self._offset = len(general.spec.class_names)
        self._overlap_iou = overlap_iou
        base, extra = general.spec, brand.spec
        # The general card's geometry stays (it is the spec the pipeline reads for its own needs);
        # names and product classes are the union, the name says both models.
        self._spec: DetectorSpec = replace(
            base,
            card=replace(base.card, name=f"{base.card.name}+{extra.card.name}"),
            class_names=(*base.class_names, *extra.class_names),
            product_classes=base.product_classes | extra.product_classes,
        )

    @property
    def spec(self) -> DetectorSpec:
        return self._spec

    @property
    def sha256(self) -> str:
        # The brand model is what changes between runs of one brand; the general one is pinned by name.
        return self._brand.sha256

    @property
    def brand(self) -> Detector:
        return self._brand

    def detect_general(self, frames: Sequence[Image]) -> list[Detections]:
        """The general detector's boxes alone, for frames where the brand's would add nothing."""
        return self._general.detect(frames)

    def detect(self, frames: Sequence[Image]) -> list[Detections]:
        general = self._general.detect(frames)
        brand = self._brand.detect(frames)
        merged = []
        for mine, theirs in zip(brand, general, strict=True):
            shifted = Detections(mine.xyxy, mine.confidence, mine.class_id + self._offset)
            merged.append(prefer(shifted, theirs, self._overlap_iou))
        return merged
