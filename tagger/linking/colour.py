"""Colour signature: an HSV histogram whose dot product is the Bhattacharyya coefficient."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from tagger.arrays import FloatArray, Image

HUE_BINS, SAT_BINS, VAL_BINS = 12, 4, 4
COLOUR_DIM = HUE_BINS * SAT_BINS * VAL_BINS


def colour_signature(image: Image, mask: NDArray[np.uint8] | None = None) -> FloatArray:
    """Square-rooted, L2-normalized HSV histogram (so `a @ b` is the Bhattacharyya coefficient)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], mask, [HUE_BINS, SAT_BINS, VAL_BINS], [0, 180, 0, 256, 0, 256])
    flat = np.sqrt(np.asarray(hist, dtype=np.float32).ravel())
    norm = float(np.linalg.norm(flat))
    return (flat / norm if norm > 0 else flat).astype(np.float32)
