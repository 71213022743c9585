"""Keyframe simplification: keep the fewest boxes whose linear interpolation stays near the track.

Ramer-Douglas-Peucker over time, with the error of a dropped box measured as the largest difference
of any of its four normalized coordinates from the interpolated box (so 0.01 = 1% of the frame).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tagger.arrays import DoubleArray


def interpolate_boxes(times: Sequence[int], boxes: DoubleArray, at: Sequence[int]) -> DoubleArray:
    """Boxes linearly interpolated between keyframes at the times `at` (held constant outside)."""
    keys = np.asarray(times, dtype=np.float64)
    points = np.asarray(at, dtype=np.float64)
    return np.stack([np.interp(points, keys, boxes[:, k]) for k in range(boxes.shape[1])], axis=1)


def simplify(times: Sequence[int], boxes: DoubleArray, tolerance: float) -> list[int]:
    """Indices of the boxes to keep; the first and last are always kept."""
    count = len(times)
    if count != boxes.shape[0]:
        raise ValueError(f"{count} times but {boxes.shape[0]} boxes")
    if count <= 2:
        return list(range(count))
    keep = {0, count - 1}
    stack = [(0, count - 1)]
    while stack:
        first, last = stack.pop()
        if last - first < 2:
            continue
        inner = range(first + 1, last)
        predicted = interpolate_boxes(
            [times[first], times[last]], boxes[[first, last]], [times[i] for i in inner]
        )
        errors = np.abs(predicted - boxes[first + 1 : last]).max(axis=1)
        worst = int(errors.argmax())
        if errors[worst] > tolerance:
            split = first + 1 + worst
            keep.add(split)
            stack.extend(((first, split), (split, last)))
    return sorted(keep)
