"""Catalog-aware proposals for the tracker: products found by their print (`tagger.linking.locate`)
become detections of one extra class, "product", beside the general detector's.

Finding a print in a whole frame costs ~150 ms on one core, so it runs at a shot's start (and again
now and then while nothing is found: a product may be brought into view); once a product is found it
is followed by looking again, every so often, for the same SKUs only and only around where it was,
which costs a fraction of that. Between looks the tracker carries the box.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tagger.arrays import FloatArray, Image
from tagger.detection.postprocess import box_iou
from tagger.detections import Detections
from tagger.linking.index import CatalogIndex
from tagger.linking.linker import Decision, TrackLinker
from tagger.linking.locate import Box, LocateConfig, Located, locate_products
from tagger.placements import Placement
from tagger.settings import TaggerSettings

PRODUCT_CLASS_NAME = "product"


@dataclass(frozen=True, slots=True)
class LocateSchedule:
    """When to look. `retry_ms`: a full look again while a shot has shown nothing; `follow_ms`: a
    look around each found product, for its SKU; `margin`: how far around its last box (a fraction
    of its size on each side) a product may have moved between looks."""

    retry_ms: int = 1000
    follow_ms: int = 600
    margin: float = 0.25


def detection_confidence(inliers: int, min_inliers: int) -> float:
    """A located product's detection confidence: at the bar 0.5 (enough to start a track), rising
    with support towards 1 (three times the bar: ~0.75). Only its order matters downstream (which
    crops are linked, which label a track gets)."""
    extra = max(0, inliers - min_inliers)
    return float(0.5 + 0.5 * extra / (extra + 2 * max(min_inliers, 1)))


def as_detections(found: Sequence[Located], class_id: int, min_inliers: int) -> Detections:
    if not found:
        return Detections.empty()
    return Detections(
        xyxy=np.array([item.xyxy for item in found], dtype=np.float32),
        confidence=np.array([detection_confidence(item.inliers, min_inliers) for item in found], np.float32),
        class_id=np.full(len(found), class_id, dtype=np.int64),
    )


def away_from(general: Detections, boxes: Sequence[Box], overlap_iou: float = 0.3) -> Detections:
    """The general detector's boxes that lie on none of `boxes` (located products)."""
    if len(general) == 0 or not boxes:
        return general
    ious = box_iou(general.xyxy, np.array(boxes, dtype=np.float32))
    return general[np.all(ious <= overlap_iou, axis=1)]


def merged(general: Detections, located: Detections, overlap_iou: float = 0.3) -> Detections:
    """The general detector's boxes plus the located ones; a general box on a located product is
    dropped (one object, one box; the located one says which product it is)."""
    if len(located) == 0:
        return general
    kept = away_from(general, [_box(row) for row in located.xyxy], overlap_iou)
    return located if len(kept) == 0 else Detections.concatenate([kept, located])


def widened_box(box: Box, margin: float) -> Box:
    x1, y1, x2, y2 = box
    dx, dy = margin * (x2 - x1), margin * (y2 - y1)
    return (x1 - dx, y1 - dy, x2 + dx, y2 + dy)


@dataclass(slots=True)
class ShotLocator:
    """Per-shot state of where catalog products were last found; `reset` at every cut."""

    index: CatalogIndex
    class_id: int
    config: LocateConfig = field(default_factory=LocateConfig)
    schedule: LocateSchedule = field(default_factory=LocateSchedule)
    looks: int = 0
    seconds: float = 0.0
    _last_look_ms: int | None = None
    _following: dict[int, Box] = field(default_factory=dict)

    @property
    def class_name(self) -> str:
        return PRODUCT_CLASS_NAME

    def proposals(self, general: Detections, image: Image, t_ms: int, starts_shot: bool) -> Detections:
        """The general detector's boxes for this frame with the located products added; a frame that
        starts a shot forgets the previous shot's products first. Between looks, a general box on a
        product being followed is dropped too: one object, one track (and one placement to link)."""
        started = time.perf_counter()
        if starts_shot:
            self.reset()
        located = self.detect(image, t_ms)
        if len(located):
            proposals = merged(general, located)
        else:
            proposals = away_from(general, list(self._following.values()))
        self.seconds += time.perf_counter() - started
        return proposals

    def reset(self) -> None:
        self._last_look_ms = None
        self._following = {}

    def detect(self, image: Image, t_ms: int) -> Detections:
        """Located products in this frame, when it is time to look; empty otherwise."""
        found = self._look(image, t_ms)
        return as_detections(found, self.class_id, self.config.min_inliers)

    def _look(self, image: Image, t_ms: int) -> list[Located]:
        since = None if self._last_look_ms is None else t_ms - self._last_look_ms
        if self._following:
            if since is not None and since < self.schedule.follow_ms:
                return []
            self._last_look_ms = t_ms
            found: list[Located] = []
            for row, box in list(self._following.items()):
                self.looks += 1
                again = locate_products(
                    image, self.index, self.config, rows=[row], region=widened_box(box, self.schedule.margin)
                )
                if again:
                    found.append(again[0])
                    self._following[row] = again[0].xyxy
                else:
                    del self._following[row]
            return found
        if since is not None and since < self.schedule.retry_ms:
            return []
        self._last_look_ms = t_ms
        self.looks += 1
        found = locate_products(image, self.index, self.config)
        self._following = {item.row: item.xyxy for item in found}
        return found


def locator_for(linker: TrackLinker, settings: TaggerSettings, class_id: int) -> ShotLocator | None:
    """A locator over the linker's catalog index (None for a linker without one, e.g. a test fake)."""
    index = getattr(linker, "index", None)
    if not isinstance(index, CatalogIndex):
        return None
    config = LocateConfig(
        max_keypoints=settings.locate_max_keypoints, min_inliers=settings.locate_min_inliers
    )
    schedule = LocateSchedule(retry_ms=settings.locate_retry_ms, follow_ms=settings.locate_follow_ms)
    return ShotLocator(index, class_id, config, schedule)


def explained(placements: Sequence[Placement], keep_labels: Sequence[str] = ()) -> tuple[Placement, ...]:
    """The placements some catalog SKU explains: linked, and not "unknown"; or labelled with one of
    `keep_labels` (products found by their print: a packshot already explained them geometrically,
    so a linker unsure between siblings proposes them for review rather than dropping them)."""
    return tuple(
        placement
        for placement in placements
        if placement.label in keep_labels
        or (placement.link is not None and placement.link.decision is not Decision.UNKNOWN)
    )


def _box(row: FloatArray) -> Box:
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
