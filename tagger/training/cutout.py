"""Cut a product out of its packshot: packshots are shot on a plain background (white, grey, a flat
colour) or carry an alpha channel, so the background is the colour the border agrees on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tagger.arrays import Image
from tagger.training.errors import PackshotError

# A cut-out smaller than this share of the packshot is noise, larger is the whole picture: either way
# the border colour did not separate product from background, so the whole rectangle is kept.
_MIN_SHARE = 0.02
_MAX_SHARE = 0.985
# Distance in Lab from the border colour that counts as "not background" (JPEG noise is ~3-6).
_BACKGROUND_DISTANCE = 18.0
# Packshots are scaled to this longest side once: pasting never needs more pixels than that.
_MAX_SIDE = 640
_MIN_SIDE = 16


@dataclass(frozen=True, slots=True)
class Cutout:
    """A product's pixels (BGR) and its opacity (0-255), cropped to the product."""

    image: Image
    alpha: Image
    whole_rectangle: bool  # True when no plain background was found and the full packshot is kept


def read_packshot(path: Path) -> tuple[Image, Image | None]:
    """BGR pixels and, for a transparent PNG, its alpha; `PackshotError` when unreadable."""
    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else np.empty(0, np.uint8)
    decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if decoded is None or decoded.ndim not in (2, 3) or min(decoded.shape[:2]) < _MIN_SIDE:
        raise PackshotError(f"packshot {path} is missing, not an image, or smaller than {_MIN_SIDE} px")
    decoded = _to_uint8(decoded)
    if decoded.ndim == 2:
        return np.asarray(cv2.cvtColor(decoded, cv2.COLOR_GRAY2BGR), dtype=np.uint8), None
    if decoded.shape[2] == 4:
        return np.ascontiguousarray(decoded[:, :, :3]), np.ascontiguousarray(decoded[:, :, 3])
    return np.ascontiguousarray(decoded[:, :, :3]), None


def _to_uint8(image: np.ndarray[Any, Any]) -> Image:
    if image.dtype == np.uint8:
        return np.asarray(image, dtype=np.uint8)
    if image.dtype == np.uint16:  # 16-bit PNGs exist in the wild
        return np.asarray(image >> 8, dtype=np.uint8)
    return np.asarray(np.clip(image, 0, 255), dtype=np.uint8)


def cut_out(image: Image, alpha: Image | None = None) -> Cutout:
    """The product and its mask: the given alpha, else pixels unlike the border's median colour."""
    image, alpha = _shrink(image, alpha)
    if alpha is not None and alpha.min() < 250:
        mask = (alpha > 16).astype(np.uint8) * 255
    else:
        mask = _foreground(image)
    share = float(np.count_nonzero(mask)) / mask.size
    if not _MIN_SHARE <= share <= _MAX_SHARE:
        full = np.full(image.shape[:2], 255, np.uint8)
        return Cutout(image=image, alpha=full, whole_rectangle=True)
    ys, xs = np.nonzero(mask)
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    soft = np.asarray(
        cv2.GaussianBlur(mask, (3, 3), 0), dtype=np.uint8
    )  # a feathered edge pastes without a halo
    return Cutout(
        image=np.ascontiguousarray(image[top:bottom, left:right]),
        alpha=np.ascontiguousarray(soft[top:bottom, left:right]),
        whole_rectangle=False,
    )


def _shrink(image: Image, alpha: Image | None) -> tuple[Image, Image | None]:
    height, width = image.shape[:2]
    scale = _MAX_SIDE / max(height, width)
    if scale >= 1.0:
        return image, alpha
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    if alpha is None:
        return small, None
    return small, np.asarray(cv2.resize(alpha, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _foreground(image: Image) -> Image:
    """Pixels far from the border's median Lab colour, closed and hole-filled into solid shapes."""
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32)
    border = np.concatenate((lab[0], lab[-1], lab[:, 0], lab[:, -1]))
    background = np.median(border, axis=0)
    distance = np.linalg.norm(lab - background, axis=2)
    mask = (distance > _BACKGROUND_DISTANCE).astype(np.uint8) * 255
    side = max(3, (min(image.shape[:2]) // 60) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    mask = np.asarray(cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel), dtype=np.uint8)
    mask = np.asarray(cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel, iterations=2), dtype=np.uint8)
    # White labels on a white background leave holes inside the product: fill every enclosed region.
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(mask)
    if contours:
        largest = max(cv2.contourArea(contour) for contour in contours)
        # Specks far smaller than the product (dust, shadows' tips) are not part of it.
        keep = [contour for contour in contours if cv2.contourArea(contour) >= 0.02 * largest]
        cv2.drawContours(filled, keep, -1, 255, thickness=cv2.FILLED)
    return filled
