"""Aligned appearance: once RANSAC has placed the packshot in the crop, do their colours agree there?

Sibling packages (Arla standard vs medium-fat milk, two God Morgon juices) share the logo, so they
share keypoint inliers; what differs is the colour of the band or the fruit picture. Warping the crop
into the packshot's frame with the verified homography and comparing colours pixel by pixel over the
packshot's product area separates them where neither global colour nor inlier counts can.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from tagger.arrays import Image
from tagger.linking.images import foreground_mask

CATALOG_THUMBNAIL_PX = 64
QUERY_THUMBNAIL_PX = 192
MIN_OVERLAP = 0.3
# Lab distance at which similarity falls to 1/e: about the difference between two blues.
COLOUR_SCALE = 20.0
# A map this badly conditioned has no inverse worth sampling through.
MAX_CONDITION = 1e10


def thumbnail(image: Image, side: int) -> Image:
    """The image squeezed to side x side (aspect is restored by the homography's scale terms)."""
    return np.asarray(cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _scale(size: tuple[int, int], side: int) -> NDArray[np.float64]:
    height, width = size
    return np.diag([side / width, side / height, 1.0])


def _samples_finitely(to_thumb: NDArray[np.float64], side: int) -> bool:
    """Whether warping through `to_thumb` samples finite source points for every destination pixel
    (and the map does not squash the product to a line).

    warpPerspective inverts the map itself; a singular one (USAC returns some, rank 2) gives infinite
    source coordinates, and OpenCV 5's bilinear warp then crashes the process (a segfault, seen on a
    grocery-dev photo). A map whose line at infinity crosses the destination square folds the image
    through infinity: no evidence either way. The homogeneous coordinate is linear in the pixel, so
    one sign at the four corners means one sign everywhere."""
    if not np.all(np.isfinite(to_thumb)) or abs(np.linalg.det(to_thumb[:2, :2])) < 1e-6:
        return False
    if np.linalg.cond(to_thumb) > MAX_CONDITION:
        return False
    from_thumb = np.linalg.inv(to_thumb)
    corners = np.array([[0.0, side, 0.0, side], [0.0, 0.0, side, side], [1.0, 1.0, 1.0, 1.0]])
    depth = from_thumb[2] @ corners
    return bool(np.all(np.isfinite(from_thumb)) and (np.all(depth > 0) or np.all(depth < 0)))


def aligned_similarity(
    query_thumbnail: Image,
    query_size: tuple[int, int],
    candidate_thumbnail: Image,
    candidate_size: tuple[int, int],
    homography: NDArray[np.float64],
) -> float:
    """exp(-median Lab distance / scale) over the packshot's product pixels the warped crop covers;
    0 when the homography is degenerate or covers too little of the product."""
    side = candidate_thumbnail.shape[0]
    to_thumb = (
        _scale(candidate_size, side)
        @ homography
        @ np.linalg.inv(_scale(query_size, query_thumbnail.shape[0]))
    )
    if not _samples_finitely(to_thumb, side):
        return 0.0
    warped = cv2.warpPerspective(query_thumbnail, to_thumb, (side, side), flags=cv2.INTER_AREA)
    covered = cv2.warpPerspective(
        np.full(query_thumbnail.shape[:2], 255, np.uint8), to_thumb, (side, side), flags=cv2.INTER_NEAREST
    )
    product = foreground_mask(candidate_thumbnail) > 0
    region = product & (covered > 0)
    if region.sum() < MIN_OVERLAP * max(1, int(product.sum())):
        return 0.0
    query_lab = cv2.cvtColor(warped, cv2.COLOR_BGR2LAB).astype(np.float32)
    candidate_lab = cv2.cvtColor(candidate_thumbnail, cv2.COLOR_BGR2LAB).astype(np.float32)
    distance = np.linalg.norm(query_lab[region] - candidate_lab[region], axis=1)
    return float(np.exp(-float(np.median(distance)) / COLOUR_SCALE))
