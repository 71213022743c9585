"""From tracked boxes to placements: a product, a time span and a moving box, plus its best crops.

Tracks are collected per shot; fragments of the same object inside a shot (the tracker lost it for
a moment) are merged, flickers are dropped, and each survivor's path is reduced to keyframes.
"""

from __future__ import annotations

import heapq
import itertools
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from tagger.arrays import Image
from tagger.crop_store import CropStore
from tagger.detection.postprocess import box_iou
from tagger.detections import Detections
from tagger.keyframes import simplify

if TYPE_CHECKING:  # linking is optional at run time: tagging alone never loads its models
    from tagger.linking.linker import LinkResult

NormBox = tuple[float, float, float, float]
# Crops kept for linking extend the tracked box by this share of its width and height on each side:
# detector boxes on packages are often a little tight or partial, and print cut at the edge is lost.
# On grocery-dev photos (detector boxes, linking cross-validated over 8 fold seeds) 0.2 instead of the
# 0.08 used before raised packaged top-1 from 0.81 to 0.84 and cut confident answers for products
# missing from the catalog from 1.8 % to 1.3 %; 0.35 and 0.5 scored higher still on photos, but in an
# episode the context around a product is a scene, not a shelf (BENCHMARKS.md, Linking).
LINK_CROP_MARGIN = 0.2
# Sharpness is measured on crops scaled to this side so that big and small crops compare fairly.
_SHARPNESS_SIDE = 128


@dataclass(frozen=True, slots=True, eq=False)
class Crop:
    """A BGR uint8 crop of the product kept in memory so linking needs no second decode."""

    image: Image = field(repr=False)
    t_ms: int
    frame_index: int
    box: NormBox
    sharpness: float
    confidence: float

    @property
    def quality(self) -> float:
        """Prefer confident, large, sharp views; sharpness saturates so blur only breaks ties."""
        height, width = self.image.shape[:2]
        return self.confidence * float(np.sqrt(width * height)) * self.sharpness / (self.sharpness + 50.0)


@dataclass(frozen=True, slots=True)
class Keyframe:
    t_ms: int
    box: NormBox


@dataclass(frozen=True, slots=True)
class Placement:
    id: str
    label: str
    confidence: float
    start_ms: int
    end_ms: int
    start_frame: int
    end_frame: int
    keyframes: tuple[Keyframe, ...]
    thumbnail: Path | None
    crops: tuple[Crop, ...] = field(repr=False)
    shot: int
    # The linker's answer for this placement's crops (candidates best first, decision), when tagging
    # was given a catalog; None otherwise.
    link: LinkResult | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    t_ms: int
    frame_index: int
    box: NormBox
    confidence: float
    class_id: int


@dataclass(frozen=True, slots=True)
class PlacementRules:
    min_duration_ms: int = 500
    min_detections: int = 2
    keyframe_tolerance: float = 0.01
    merge_gap_ms: int = 1500
    merge_min_iou: float = 0.3
    crops_per_placement: int = 3
    crop_margin: float = LINK_CROP_MARGIN


def widened(image: Image, xyxy: Sequence[float], margin: float) -> Image:
    """The box's pixels plus `margin` of its width and height on each side, clipped to the frame."""
    x1, y1, x2, y2 = (float(value) for value in xyxy)
    pad_x, pad_y = margin * max(0.0, x2 - x1), margin * max(0.0, y2 - y1)
    height, width = image.shape[:2]
    left, top = max(0, int(np.floor(x1 - pad_x))), max(0, int(np.floor(y1 - pad_y)))
    right, bottom = min(width, int(np.ceil(x2 + pad_x))), min(height, int(np.ceil(y2 + pad_y)))
    return image[top:bottom, left:right]


def sharpness(image: Image) -> float:
    """Variance of the Laplacian of the crop's luma at a fixed size: higher is sharper."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    height, width = gray.shape
    scale = _SHARPNESS_SIDE / max(height, width)
    if scale < 1.0:
        gray = cv2.resize(gray, (max(1, round(width * scale)), max(1, round(height * scale))))
    return float(cv2.Laplacian(gray, cv2.CV_32F).var())


def normalized_iou(a: NormBox, b: NormBox) -> float:
    """IoU of two normalized [x, y, w, h] boxes, through the detector's one IoU (`box_iou`)."""
    corners = np.array([[a[0], a[1], a[0] + a[2], a[1] + a[3]], [b[0], b[1], b[0] + b[2], b[1] + b[3]]])
    return float(box_iou(corners[:1], corners[1:])[0, 0])


def extrapolate(observations: Sequence[Observation], t_ms: int) -> NormBox:
    """The last box moved on at the velocity of the last two observations (size kept)."""
    last = observations[-1]
    if len(observations) < 2 or last.t_ms <= observations[-2].t_ms:
        return last.box
    before = observations[-2]
    scale = (t_ms - last.t_ms) / (last.t_ms - before.t_ms)
    x, y, w, h = last.box
    return (x + (x - before.box[0]) * scale, y + (y - before.box[1]) * scale, w, h)


@dataclass(frozen=True, slots=True)
class Hold:
    """How long a track's object is still shown after its last sighting: until `t_ms` (frame
    `frame_index`), when nothing saw it leave before (`tagger.locating.ShotLocator.held_until`)."""

    t_ms: int
    frame_index: int


@dataclass(slots=True)
class _Track:
    shot: int
    observations: list[Observation] = field(default_factory=list)
    hold: Hold | None = None
    # Min-heap of (quality, tie-breaker, crop): the worst kept crop is evicted first.
    crops: list[tuple[float, int, Crop]] = field(default_factory=list)


class PlacementBuilder:
    """Collects tracked boxes as they come, then turns tracks into placements."""

    def __init__(self, class_names: Sequence[str], rules: PlacementRules) -> None:
        self._class_names = class_names
        self._rules = rules
        self._tracks: dict[int, _Track] = {}
        self._tie = itertools.count()
        self._tracks_seen = 0

    def observe(self, shot: int, t_ms: int, frame_index: int, boxes: Detections, image: Image) -> None:
        """Record one detected frame's tracked boxes (`Detections` with a `tracker_id` column); `image`
        is the BGR frame the boxes refer to."""
        if len(boxes) == 0:
            return
        if boxes.tracker_id is None:
            raise ValueError("placements are built from tracked detections (a tracker_id column)")
        height, width = image.shape[:2]
        # Observations arrive in time order except a track's first sighting, credited late: one step
        # for the tracker's, one or more looks for a located product's (`tagger.locating`).
        for xyxy, confidence, class_id, track_id in zip(
            boxes.xyxy, boxes.confidence, boxes.class_id, boxes.tracker_id, strict=True
        ):
            x1, y1, x2, y2 = (float(v) for v in xyxy)
            box = (x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height)
            track = self._tracks.get(int(track_id))
            if track is None:
                track = self._tracks[int(track_id)] = _Track(shot=shot)
                self._tracks_seen += 1
            track.observations.append(Observation(t_ms, frame_index, box, float(confidence), int(class_id)))
            self._offer_crop(
                track, image, (x1, y1, x2, y2), float(confidence), t_ms=t_ms, frame_index=frame_index, box=box
            )

    def _offer_crop(
        self,
        track: _Track,
        image: Image,
        xyxy: tuple[float, float, float, float],
        confidence: float,
        *,
        t_ms: int,
        frame_index: int,
        box: NormBox,
    ) -> None:
        x1, y1, x2, y2 = (round(v) for v in xyxy)
        pixels = image[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)]
        if pixels.shape[0] < 2 or pixels.shape[1] < 2:
            return
        crop = Crop(
            image=np.ascontiguousarray(widened(image, xyxy, self._rules.crop_margin)),
            t_ms=t_ms,
            frame_index=frame_index,
            box=box,
            sharpness=sharpness(pixels),
            confidence=confidence,
        )
        entry = (crop.quality, next(self._tie), crop)
        if len(track.crops) < self._rules.crops_per_placement:
            heapq.heappush(track.crops, entry)
        elif entry[0] > track.crops[0][0]:
            heapq.heapreplace(track.crops, entry)

    @property
    def tracks_seen(self) -> int:
        """Distinct tracks observed so far (before short ones are dropped and fragments merged)."""
        return self._tracks_seen

    def build(self, crop_store: CropStore | None = None) -> list[Placement]:
        """Placements from the tracks seen and not yet taken; with a `crop_store`, each placement's
        crops are stored there (re-linking after a catalog change then votes over the same crops as
        the first link) and its `thumbnail` is the best one's file. The tracks are then forgotten."""
        placements = []
        for shot in sorted({track.shot for track in self._tracks.values()}):
            placements.extend(self.take_shot(shot, crop_store))
        return sorted(placements, key=placement_order)

    def take_shot(
        self, shot: int, crop_store: CropStore | None = None, holds: Mapping[int, Hold] | None = None
    ) -> list[Placement]:
        """The placements of one shot, in `placement_order`, as `build` makes them; its tracks are
        then forgotten. Call it once the shot has ended: nothing joins tracks across a cut. `holds`
        (by track id) extend tracks whose object was still there, as far as anything knows, when the
        shot ended: the placement ends at the hold, and its length counts to it."""
        for track_id, hold in (holds or {}).items():
            if track_id in self._tracks and self._tracks[track_id].shot == shot:
                self._tracks[track_id].hold = hold
        tracks = [track for track in self._tracks.values() if track.shot == shot]
        self._tracks = {key: track for key, track in self._tracks.items() if track.shot != shot}
        placements = []
        for track in self._merge_fragments(tracks):
            placement = self._to_placement(track, crop_store)
            if placement is not None:
                placements.append(placement)
        return sorted(placements, key=placement_order)

    def _label(self, track: _Track) -> int:
        votes: dict[int, float] = defaultdict(float)
        for observation in track.observations:
            votes[observation.class_id] += observation.confidence
        return max(votes, key=lambda class_id: (votes[class_id], -class_id))

    def _merge_fragments(self, tracks: list[_Track]) -> list[_Track]:
        """Join a track that ends and one that starts soon after where it ended, same label."""
        pending = sorted(tracks, key=lambda t: t.observations[0].t_ms)
        merged: list[_Track] = []
        for track in pending:
            target = next((m for m in merged if self._continues(m, track)), None)
            if target is None:
                merged.append(track)
                continue
            target.observations.extend(track.observations)
            target.hold = track.hold
            for entry in track.crops:
                if len(target.crops) < self._rules.crops_per_placement:
                    heapq.heappush(target.crops, entry)
                elif entry[0] > target.crops[0][0]:
                    heapq.heapreplace(target.crops, entry)
        return merged

    def _continues(self, earlier: _Track, later: _Track) -> bool:
        end, start = earlier.observations[-1], later.observations[0]
        gap = start.t_ms - end.t_ms
        if not (0 < gap <= self._rules.merge_gap_ms and self._label(earlier) == self._label(later)):
            return False
        # Where the earlier fragment was heading: a product carried across the frame is lost by the
        # tracker between sparse detections, and its next fragment starts further along the path.
        expected = extrapolate(earlier.observations, start.t_ms)
        return (
            max(normalized_iou(end.box, start.box), normalized_iou(expected, start.box))
            >= self._rules.merge_min_iou
        )

    def _to_placement(self, track: _Track, crop_store: CropStore | None) -> Placement | None:
        observations = track.observations
        first, last = observations[0], observations[-1]
        end_ms, end_frame = last.t_ms, last.frame_index
        if track.hold is not None and track.hold.t_ms > end_ms:
            end_ms, end_frame = track.hold.t_ms, max(end_frame, track.hold.frame_index)
        if (
            len(observations) < self._rules.min_detections
            or end_ms - first.t_ms < self._rules.min_duration_ms
        ):
            return None
        class_id = self._label(track)
        times = [o.t_ms for o in observations]
        boxes = np.array([o.box for o in observations], dtype=np.float64)
        kept = simplify(times, boxes, self._rules.keyframe_tolerance)
        keyframes = tuple(Keyframe(t_ms=times[i], box=_rounded(observations[i].box)) for i in kept)
        crops = tuple(entry[2] for entry in sorted(track.crops, key=lambda e: (-e[0], e[1])))
        placement_id = str(uuid.uuid4())
        thumbnail = (
            crop_store.save(placement_id, [crop.image for crop in crops]) if crops and crop_store else None
        )
        confidences = [o.confidence for o in observations if o.class_id == class_id]
        return Placement(
            id=placement_id,
            label=self._class_names[class_id],
            confidence=round(float(np.mean(confidences)), 4),
            start_ms=first.t_ms,
            end_ms=end_ms,
            start_frame=first.frame_index,
            end_frame=end_frame,
            keyframes=keyframes,
            thumbnail=thumbnail,
            crops=crops,
            shot=track.shot,
        )


def placement_order(placement: Placement) -> tuple[int, str, NormBox]:
    """How placements are listed: by start, then label, then where they first are."""
    return (placement.start_ms, placement.label, placement.keyframes[0].box)


def _rounded(box: NormBox) -> NormBox:
    x, y, w, h = (round(min(1.0, max(0.0, v)), 4) for v in box)
    return (x, y, w, h)
