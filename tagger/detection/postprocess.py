"""Turn raw detector outputs into `Detections`: grid decoding, score selection and NMS, all pure."""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from tagger.arrays import FloatArray
from tagger.detections import Detections

IntArray = npt.NDArray[np.int64]


@lru_cache(maxsize=8)
def _yolox_grid(width: int, height: int, strides: tuple[int, ...]) -> tuple[FloatArray, FloatArray]:
    """Per-anchor (x, y) grid cell and stride, in the order YOLOX concatenates its heads."""
    grids, steps = [], []
    for stride in strides:
        rows, cols = height // stride, width // stride
        xs, ys = np.meshgrid(np.arange(cols), np.arange(rows))
        grids.append(np.stack((xs, ys), axis=2).reshape(-1, 2))
        steps.append(np.full((rows * cols, 1), stride))
    grid = np.concatenate(grids).astype(np.float32)
    step = np.concatenate(steps).astype(np.float32)
    grid.setflags(write=False)
    step.setflags(write=False)
    return grid, step


def decode_yolox(
    raw: FloatArray, width: int, height: int, strides: tuple[int, ...]
) -> tuple[FloatArray, FloatArray]:
    """YOLOX raw head output (A, 5 + nc) → (xyxy boxes in input pixels, per-class scores (A, nc)).

    xy = (out_xy + grid) * stride, wh = exp(out_wh) * stride, score = objectness * class score.
    """
    grid, step = _yolox_grid(width, height, strides)
    if raw.ndim != 2 or raw.shape[0] != grid.shape[0] or raw.shape[1] < 6:
        raise ValueError(
            f"YOLOX output has shape {raw.shape}; a {width}x{height} input with strides {strides} "
            f"gives ({grid.shape[0]}, 5 + classes)"
        )
    centre = (raw[:, :2] + grid) * step
    # Clamp before exp: a corrupt or random output must not overflow to inf boxes.
    size = np.exp(np.minimum(raw[:, 2:4], 20.0)) * step
    boxes = np.concatenate((centre - size / 2, centre + size / 2), axis=1).astype(np.float32)
    scores = (raw[:, 4:5] * raw[:, 5:]).astype(np.float32)
    return boxes, scores


def decode_ultralytics(raw: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Ultralytics YOLOv5u/v8/v11 output (4 + nc, N) → (xyxy in input pixels, class scores (N, nc))."""
    if raw.ndim != 2 or raw.shape[0] < 5:
        raise ValueError(f"ultralytics output must have shape (4 + classes, N), got {raw.shape}")
    predictions = raw.T
    centre, size = predictions[:, :2], predictions[:, 2:4]
    boxes = np.concatenate((centre - size / 2, centre + size / 2), axis=1).astype(np.float32)
    return boxes, np.ascontiguousarray(predictions[:, 4:], dtype=np.float32)


def select(
    boxes: FloatArray,
    scores: FloatArray,
    *,
    confidence_threshold: float,
    classes: Collection[int] | None = None,
) -> Detections:
    """Best class per box, kept when its score clears the threshold and its class is allowed."""
    if classes is not None:
        allowed = np.zeros(scores.shape[1], dtype=bool)
        allowed[[c for c in classes if 0 <= c < scores.shape[1]]] = True
        scores = np.where(allowed, scores, np.float32(0.0))
    class_id = scores.argmax(axis=1)
    confidence = scores[np.arange(scores.shape[0]), class_id]
    keep = confidence >= confidence_threshold
    return Detections(xyxy=boxes[keep], confidence=confidence[keep], class_id=class_id[keep])


def box_iou(a: npt.NDArray[np.floating[Any]], b: npt.NDArray[np.floating[Any]]) -> FloatArray:
    """Pairwise IoU of xyxy boxes, shape (len(a), len(b)): the one IoU of the tagger (NMS, and placements
    through `normalized_iou`)."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0.0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0.0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0.0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def nms(
    detections: Detections,
    iou_threshold: float,
    max_detections: int | None = None,
    *,
    class_agnostic: bool = False,
) -> Detections:
    """Greedy non-maximum suppression (per class unless `class_agnostic`); best first."""
    if len(detections) == 0:
        return detections
    order = np.argsort(-detections.confidence, kind="stable")
    shifted = detections.xyxy
    if not class_agnostic:
        # Shift each class into its own region so one IoU pass never suppresses across classes.
        span = float(np.abs(detections.xyxy).max()) + 1.0
        shifted = detections.xyxy + (detections.class_id.astype(np.float32) * span)[:, None]
    keep: list[int] = []
    remaining = order
    while remaining.size:
        best = int(remaining[0])
        keep.append(best)
        if max_detections is not None and len(keep) >= max_detections:
            break
        overlaps = box_iou(shifted[best : best + 1], shifted[remaining[1:]])[0]
        remaining = remaining[1:][overlaps <= iou_threshold]
    return detections[np.array(keep, dtype=np.int64)]
