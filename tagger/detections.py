"""`Detections`: one frozen, numpy-backed value type for boxes (after roboflow/supervision's).

Boxes are pixel `xyxy` float32 in the frame they were detected on; transforms return new objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tagger.arrays import FloatArray

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, eq=False)
class Detections:
    """N boxes with a confidence and a class id each, and a track id each once a tracker has seen
    them (`tracker_id`, as supervision's trackers return it; -1: not a confirmed track yet). Arrays
    are read-only."""

    xyxy: FloatArray
    confidence: FloatArray
    class_id: IntArray
    tracker_id: IntArray | None = None

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32)
        confidence = np.asarray(self.confidence, dtype=np.float32)
        class_id = np.asarray(self.class_id, dtype=np.int64)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (N, 4), got {xyxy.shape}")
        n = xyxy.shape[0]
        if confidence.shape != (n,) or class_id.shape != (n,):
            raise ValueError(
                f"confidence {confidence.shape} and class_id {class_id.shape} must both have shape ({n},)"
            )
        columns: list[tuple[str, npt.NDArray[np.generic]]] = [
            ("xyxy", xyxy),
            ("confidence", confidence),
            ("class_id", class_id),
        ]
        if self.tracker_id is not None:
            tracker_id = np.asarray(self.tracker_id, dtype=np.int64)
            if tracker_id.shape != (n,):
                raise ValueError(f"tracker_id {tracker_id.shape} must have shape ({n},)")
            columns.append(("tracker_id", tracker_id))
        for name, array in columns:
            # Copy so that freezing never reaches into the caller's array.
            frozen = array.copy() if array.flags.writeable else array
            frozen.setflags(write=False)
            object.__setattr__(self, name, frozen)

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            xyxy=np.empty((0, 4), dtype=np.float32),
            confidence=np.empty((0,), dtype=np.float32),
            class_id=np.empty((0,), dtype=np.int64),
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, selector: BoolArray | IntArray | slice) -> Detections:
        """Select by boolean mask, index array or slice; always returns `Detections`."""
        if isinstance(selector, np.ndarray) and selector.dtype == np.bool_ and selector.shape != (len(self),):
            raise ValueError(f"mask has shape {selector.shape}, expected ({len(self)},)")
        return Detections(
            xyxy=self.xyxy[selector],
            confidence=self.confidence[selector],
            class_id=self.class_id[selector],
            tracker_id=self.tracker_id[selector] if self.tracker_id is not None else None,
        )

    def with_tracker_id(self, tracker_id: IntArray) -> Detections:
        """The same boxes with a track id each."""
        return Detections(self.xyxy, self.confidence, self.class_id, tracker_id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Detections):
            return NotImplemented
        same_tracks = (self.tracker_id is None and other.tracker_id is None) or (
            self.tracker_id is not None
            and other.tracker_id is not None
            and np.array_equal(self.tracker_id, other.tracker_id)
        )
        return (
            np.array_equal(self.xyxy, other.xyxy)
            and np.array_equal(self.confidence, other.confidence)
            and np.array_equal(self.class_id, other.class_id)
            and same_tracks
        )

    def __hash__(self) -> int:
        tracks = self.tracker_id.tobytes() if self.tracker_id is not None else None
        return hash((self.xyxy.tobytes(), self.confidence.tobytes(), self.class_id.tobytes(), tracks))

    def scaled(self, factor: float, offset: tuple[float, float] = (0.0, 0.0)) -> Detections:
        """Boxes mapped by `(xy - offset) / factor`: undo a letterbox or a resize."""
        shift = np.array([offset[0], offset[1], offset[0], offset[1]], dtype=np.float32)
        return Detections(
            xyxy=(self.xyxy - shift) / np.float32(factor),
            confidence=self.confidence,
            class_id=self.class_id,
            tracker_id=self.tracker_id,
        )

    def clipped(self, width: int, height: int) -> Detections:
        """Boxes clipped to the frame; boxes left with no area are dropped."""
        limits = np.array([width, height, width, height], dtype=np.float32)
        xyxy = np.clip(self.xyxy, 0.0, limits)
        keep = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        return Detections(xyxy, self.confidence, self.class_id, self.tracker_id)[keep]

    @staticmethod
    def concatenate(parts: list[Detections]) -> Detections:
        if not parts:
            return Detections.empty()
        tracked = [part.tracker_id for part in parts if part.tracker_id is not None]
        if tracked and len(tracked) != len(parts):
            raise ValueError("cannot concatenate tracked and untracked detections")
        return Detections(
            xyxy=np.concatenate([part.xyxy for part in parts]),
            confidence=np.concatenate([part.confidence for part in parts]),
            class_id=np.concatenate([part.class_id for part in parts]),
            tracker_id=np.concatenate(tracked) if tracked else None,
        )
