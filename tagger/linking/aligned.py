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


def _sampled_from_crop(
    to_thumb: NDArray[np.float64], side: int, query_side: int
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.bool_]] | None:
    """For each pixel of the packshot thumbnail (side x side), where to sample the crop's thumbnail
    (query_side square), and which pixels see the crop at all; None for a map with no usable inverse.

    The inverse is taken here, not by warpPerspective: a singular map (USAC returns some, rank 2) gives
    infinite source coordinates, and OpenCV 5's bilinear warp then crashed the process (a segfault, seen
    on a grocery-dev photo). A packshot pixel sees the crop only where the homogeneous coordinate has
    the sign it has at the crop's centre (the side of the horizon the crop is on; across it the map folds
    the picture through infinity) and its source lies inside the crop. Refusing every map whose horizon
    crosses the packshot instead (as before) threw away the colour evidence of a crop that shows part of
    the pack at an angle: on the sixth pass's code, cross-validated packaged top-1 fell from 0.846 to
    0.818 with that refusal and is 0.851 with this sampling (BENCHMARKS.md, Linking)."""
    if not np.all(np.isfinite(to_thumb)) or not np.any(to_thumb):
        return None
    # A homography is defined up to scale: normalised as USAC returns it (last entry 1, else its largest
    # 1), the tests below mean the same at any scale.
    corner = float(to_thumb[2, 2])
    to_thumb = to_thumb / (corner if abs(corner) > 1e-12 else np.abs(to_thumb).max())
    if abs(np.linalg.det(to_thumb[:2, :2])) < 1e-6:
        return None
    if np.linalg.cond(to_thumb) > MAX_CONDITION:
        return None
    from_thumb = np.linalg.inv(to_thumb)
    if not np.all(np.isfinite(from_thumb)):
        return None
    centre = to_thumb @ np.array([query_side / 2, query_side / 2, 1.0])
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float64)
    source = np.tensordot(from_thumb, np.stack([xs, ys, np.ones_like(xs)]), axes=1)
    depth = source[2]
    in_front = depth * np.sign(centre[2]) > 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(in_front, source[0] / np.where(in_front, depth, 1.0), -1.0)
        y = np.where(in_front, source[1] / np.where(in_front, depth, 1.0), -1.0)
    last = query_side - 1
    seen = in_front & (x >= 0) & (x <= last) & (y >= 0) & (y <= last)
    # Pixels that do not see the crop sample outside it (a constant border), never a far coordinate.
    map_x = np.where(seen, x, -1.0).astype(np.float32)
    map_y = np.where(seen, y, -1.0).astype(np.float32)
    return map_x, map_y, seen


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
    sampled = _sampled_from_crop(to_thumb, side, query_thumbnail.shape[0])
    if sampled is None:
        return 0.0
    map_x, map_y, covered = sampled
    warped = cv2.remap(
        query_thumbnail, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    product = foreground_mask(candidate_thumbnail) > 0
    region = product & covered
    if region.sum() < MIN_OVERLAP * max(1, int(product.sum())):
        return 0.0
    query_lab = cv2.cvtColor(warped, cv2.COLOR_BGR2LAB).astype(np.float32)
    candidate_lab = cv2.cvtColor(candidate_thumbnail, cv2.COLOR_BGR2LAB).astype(np.float32)
    distance = np.linalg.norm(query_lab[region] - candidate_lab[region], axis=1)
    return float(np.exp(-float(np.median(distance)) / COLOUR_SCALE))
