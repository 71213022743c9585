"""Follow detections over time with the `trackers` package; one tracker per shot, reset at every cut."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import supervision as sv
from trackers import BIoU, BoTSORTTracker, ByteTrackTracker

from tagger.arrays import Image
from tagger.detections import Detections
from tagger.settings import TrackerName

# `trackers` counts its lost-track buffer in frames at 30 fps and converts it to seconds itself.
_TRACKERS_REFERENCE_FPS = 30.0

Box = tuple[float, float, float, float]

# Camera-motion compensation logs a warning on every featureless frame (a title card, a fade);
# tracking simply goes on without compensation there, so those warnings are noise in CLI output.
logging.getLogger("trackers.cmc").setLevel(logging.ERROR)


@dataclass(frozen=True, slots=True)
class TrackerStep:
    """One update's result: `Detections` with a `tracker_id` column each (ids unique over the whole
    video). `first_sightings` belong to the *previous* update's frame.

    `trackers` confirms a track on its second sighting and labels the first one -1; at a few
    detections per second that first sighting is a third of a second of placement, so it is
    credited back to the track here.
    """

    boxes: Detections
    first_sightings: Detections
    # The tracker is unsure: a track is being born, or a box jumped further than IoU can follow.
    unsettled: bool = False


def _tracked_empty() -> Detections:
    return Detections.empty().with_tracker_id(np.empty((0,), dtype=np.int64))


def first_sighting(xyxy: Box, class_id: int, candidates: Detections, among: Sequence[int]) -> int | None:
    """Which unconfirmed box of the previous update (an index into `candidates`, one of `among`)
    most plausibly started the track now at `xyxy`."""
    x1, y1, x2, y2 = xyxy
    size = max(x2 - x1, y2 - y1)
    centre = ((x1 + x2) / 2, (y1 + y2) / 2)
    best: tuple[float, int] | None = None
    for index in among:
        if int(candidates.class_id[index]) != class_id:
            continue
        cx1, cy1, cx2, cy2 = (float(v) for v in candidates.xyxy[index])
        distance = float(np.hypot((cx1 + cx2) / 2 - centre[0], (cy1 + cy2) / 2 - centre[1]))
        # Two box sizes: the first sighting is one (sparse) detection step earlier.
        if distance <= 2 * size and (best is None or distance < best[0]):
            best = (distance, index)
    return best[1] if best is not None else None


def too_fast(before: tuple[int, Box] | None, after: tuple[int, Box], regular_period_ms: float) -> bool:
    """At its current speed the box would move more than half its size in one regular period.

    Then IoU association at the regular sampling rate is about to fail, and detections should
    come faster for a while.
    """
    if before is None or after[0] <= before[0]:
        return False
    (t0, a), (t1, b) = before, after
    size = max(b[2] - b[0], b[3] - b[1], 1.0)
    shift = float(np.hypot((b[0] + b[2] - a[0] - a[2]) / 2, (b[1] + b[3] - a[1] - a[3]) / 2))
    return shift * regular_period_ms / (t1 - t0) > 0.5 * size


class ShotTracker:
    """Wraps a `trackers` tracker fed with timestamps (detections arrive at a sampled rate)."""

    def __init__(
        self,
        name: TrackerName = "botsort",
        *,
        activation_threshold: float = 0.4,
        lost_track_s: float = 1.0,
        frame_rate: float = 30.0,
        cmc_downscale: int = 4,
        iou_buffer: float = 0.3,
        regular_period_ms: float = 333.0,
        camera_motion_compensation: bool = True,
        high_threshold: float = 0.5,
    ) -> None:
        buffer = round(lost_track_s * _TRACKERS_REFERENCE_FPS)
        # A detection that may start a track must also be able to confirm one.
        high_threshold = max(activation_threshold, high_threshold)
        # Buffered IoU: at a few detections per second a moving product's boxes barely overlap from
        # one detection to the next; enlarging both boxes before comparing keeps them associated.
        iou = BIoU(buffer_ratio=iou_buffer)
        self._uses_frames = name == "botsort" and camera_motion_compensation
        self._tracker: BoTSORTTracker | ByteTrackTracker
        if name == "botsort":
            # Camera-motion compensation: micro-dramas pan and zoom, and at a few detections per
            # second an uncompensated pan moves boxes further than IoU association tolerates.
            self._tracker = BoTSORTTracker(
                lost_track_buffer=buffer,
                frame_rate=frame_rate,
                track_activation_threshold=activation_threshold,
                high_conf_det_threshold=high_threshold,
                minimum_consecutive_frames=1,
                enable_cmc=camera_motion_compensation,
                cmc_method="sparseOptFlow",
                cmc_downscale=cmc_downscale,
                iou=iou,
            )
        else:
            self._tracker = ByteTrackTracker(
                lost_track_buffer=buffer,
                frame_rate=frame_rate,
                track_activation_threshold=activation_threshold,
                high_conf_det_threshold=high_threshold,
                minimum_consecutive_frames=1,
                iou=iou,
            )
        # Track ids restart at every reset; this offset keeps them unique over the whole video.
        self._id_offset = 0
        self._max_id = -1
        self._unconfirmed = _tracked_empty()
        self._activation_threshold = activation_threshold
        self._last_seen: dict[int, tuple[int, Box]] = {}
        self._regular_period_ms = regular_period_ms

    def reset(self) -> None:
        """A cut: nothing may be followed across it."""
        self._tracker.reset()
        self._id_offset += self._max_id + 1
        self._max_id = -1
        self._unconfirmed = _tracked_empty()
        self._last_seen = {}

    def update(self, detections: Detections, t_ms: int, frame: Image | None = None) -> TrackerStep:
        supervised = sv.Detections(
            xyxy=detections.xyxy.astype(np.float32),
            confidence=detections.confidence.astype(np.float32),
            class_id=detections.class_id.astype(int),
        )
        with warnings.catch_warnings():
            # Duplicate timestamps (variable-frame-rate files) only skip a Kalman step; say nothing.
            warnings.simplefilter("ignore", UserWarning)
            tracked = self._tracker.update(
                supervised, frame=frame if self._uses_frames else None, timestamp=t_ms / 1000.0
            )
        if tracked.tracker_id is None or tracked.confidence is None or tracked.class_id is None:
            self._unconfirmed = _tracked_empty()
            return TrackerStep(_tracked_empty(), _tracked_empty())
        local = np.asarray(tracked.tracker_id, dtype=np.int64)
        confirmed = local >= 0
        global_ids = np.where(confirmed, local + self._id_offset, -1)
        seen = Detections(
            xyxy=np.asarray(tracked.xyxy, dtype=np.float32),
            confidence=np.asarray(tracked.confidence, dtype=np.float32),
            class_id=np.asarray(tracked.class_id, dtype=np.int64),
            tracker_id=global_ids,
        )
        boxes, unconfirmed = seen[confirmed], seen[~confirmed]
        positions = [
            (int(track_id), (float(x1), float(y1), float(x2), float(y2)))
            for track_id, (x1, y1, x2, y2) in zip(global_ids[confirmed], boxes.xyxy, strict=True)
        ]
        available = list(range(len(self._unconfirmed)))
        born_rows: list[int] = []
        born_ids: list[int] = []
        for row, local_id in enumerate(local[confirmed]):
            if local_id > self._max_id:
                # A track id never seen before in this shot: its first sighting was unconfirmed.
                track_id, xyxy = positions[row]
                start = first_sighting(xyxy, int(boxes.class_id[row]), self._unconfirmed, available)
                if start is not None:
                    available.remove(start)
                    born_rows.append(start)
                    born_ids.append(track_id)
            self._max_id = max(self._max_id, int(local_id))
        born = self._unconfirmed[np.array(born_rows, dtype=np.int64)].with_tracker_id(
            np.array(born_ids, dtype=np.int64)
        )
        self._unconfirmed = unconfirmed
        unsettled = bool(np.any(unconfirmed.confidence >= self._activation_threshold)) or any(
            too_fast(self._last_seen.get(track_id), (t_ms, box), self._regular_period_ms)
            for track_id, box in positions
        )
        self._last_seen.update({track_id: (t_ms, box) for track_id, box in positions})
        return TrackerStep(boxes, born, unsettled)
