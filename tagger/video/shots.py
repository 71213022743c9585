"""Hard-cut detection on tiny luma thumbnails: cheap enough to run on every decoded frame.

A cut is a frame whose mean absolute luma difference from the previous decoded frame is both above
an absolute threshold and several times the recent typical difference; the second condition keeps
fast pans and zooms (large but steady differences) from reading as cuts.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from tagger.arrays import Image


def luma_difference(previous: Image, current: Image) -> float:
    """Mean absolute difference (0-255) of two equally sized grayscale thumbnails."""
    if previous.shape != current.shape:
        # A size change mid-stream is a new picture whatever its content.
        return 255.0
    return float(np.abs(current.astype(np.int16) - previous.astype(np.int16)).mean())


class CutDetector:
    """Feed it every decoded frame's thumbnail in order; `update` says whether a new shot starts there."""

    def __init__(
        self, threshold: float = 28.0, *, relative: float = 3.0, history: int = 8, min_shot_frames: int = 3
    ) -> None:
        self._threshold = threshold
        self._relative = relative
        self._recent: deque[float] = deque(maxlen=history)
        self._min_shot_frames = min_shot_frames
        self._previous: Image | None = None
        self._since_cut = 0

    def update(self, tiny: Image) -> bool:
        previous, self._previous = self._previous, tiny
        if previous is None:
            return False
        difference = luma_difference(previous, tiny)
        typical = float(np.median(self._recent)) if self._recent else 0.0
        self._since_cut += 1
        is_cut = (
            difference >= self._threshold
            and difference >= self._relative * typical
            and self._since_cut >= self._min_shot_frames
        )
        if is_cut:
            self._since_cut = 0
            self._recent.clear()
        else:
            self._recent.append(difference)
        return is_cut
