"""Finding catalog products in a frame by their print: keypoints of the frame matched to each
packshot's, one similarity (scale, rotation, shift) per SKU, the packshot's printed area mapped into
the frame as a box.

The general detector names COCO's classes; a carton of juice is none of them, so it reports a hand
("person"), a shelf ("refrigerator") or nothing. The brand's own packshots say what to look for: a
product whose print agrees with a packshot under one transform is in the frame, and the transform
says where. A geometric match is also an explanation ("this is SKU x"), so product-free shots, which
no packshot explains, yield nothing; shelf clutter behind a held product matches with far fewer
keypoints than the product in focus and is dropped (`LocateConfig.focus_ratio`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from tagger.arrays import Image
from tagger.linking.index import CatalogIndex
from tagger.linking.keypoints import LocalFeatures, MatchingQuery, extract_local_features, ratio_test_matches
from tagger.linking.print_shortlist import print_shortlist_for

Box = tuple[float, float, float, float]

MIN_MATCHES = 6


@dataclass(frozen=True, slots=True)
class LocateConfig:
    """How hard to look and what counts as found.

    `min_inliers`: on the episode benchmark's shot starts (3 episodes, 18 product-free shots) no
    packshot reached 10 inliers on a product-free frame, while a visible product's own packshot
    reached 11-83 (BENCHMARKS.md, End to end).

    `tentative_inliers`: a print seen with at least this many inliers, but fewer than `min_inliers`,
    is only a candidate; the caller finds it when a second look, in another frame, sees the same SKU
    at the same place (`tagger.locating.ShotLocator`). Held products seen at an angle (cartons whose
    print turns away from the camera) located with 10-11 inliers frame after frame, while no packshot
    reached more than 6 on the benchmark's product-free frames (18 shots, 3 frames each)."""

    max_keypoints: int = 1000
    # Keypoints are found on the frame scaled down to this longest side (SIFT's cost grows with the
    # pixels: at 720 rather than 960 a whole-frame look cost ~25 % less).
    max_side: int = 960
    min_inliers: int = 12
    tentative_inliers: int = 8
    reprojection_px: float = 6.0
    # The located print as a fraction of the frame: its box smaller is not a tappable product; its face
    # (the projected print itself, within the frame) larger is a chance fit (a product filling the
    # frame would be a packshot, not an episode shot). The face, not the box: a carton held close and
    # tilted 40 degrees has a box of 61 % of the frame around a face of 28 % (a benchmark shot whose
    # product was found, then lost at the next look when its box crossed 60 %).
    min_area: float = 0.01
    max_area: float = 0.6
    # Siblings (two flavours of one brand) share most of a print and locate at the same place; only
    # the best-supported one is kept there (the linker decides between them from the crops).
    max_overlap: float = 0.5
    max_products: int = 3
    # A whole-frame look searches the catalog rows the frame's keypoints vote for
    # (`tagger.linking.print_shortlist`): `row_share` of the catalog, at least `min_rows` and at most
    # `max_rows` (`row_budget`); a catalog within the budget is searched in full. A row costs ~0.85 ms
    # a look on an AVX-512 VNNI core, so 10,000 SKUs searched in full would cost 9 s a look. Where the
    # vote ranks the rows the full search finds grows with the catalog: among 81 rows within the best 7
    # (those reaching the tentative bar within 17), among 10,081 rows within 39 in one draw of
    # distractors and 150 in another (BENCHMARKS.md). A quarter of the catalog, 32 rows or more, up to
    # 256, leaves twice that room or more at both sizes; at 81 rows even 16 changed no answer on the
    # episode benchmark, and 32 rather than 81 cut a look from 137 to 120 ms (the SIFT pass stays).
    max_rows: int = 256
    min_rows: int = 32
    row_share: float = 0.25
    # The product in focus, not the shelf behind it: a product is kept only with at least this share of
    # the best one's inliers (clutter matched its packshots with 10-15 inliers beside 40-80).
    focus_ratio: float = 0.5

    def __post_init__(self) -> None:
        if (
            self.max_keypoints < 10
            or self.max_side < 64
            or not MIN_MATCHES <= self.tentative_inliers <= self.min_inliers
            or not 0 < self.min_area < self.max_area <= 1
            or self.max_rows < 1
            or self.min_rows < 1
            or not 0 < self.row_share <= 1
        ):
            raise ValueError(f"unusable locate config {self}")

    def row_budget(self, catalog_rows: int) -> int:
        """How many of a catalog's rows a whole-frame look searches."""
        return min(catalog_rows, self.max_rows, max(self.min_rows, math.ceil(self.row_share * catalog_rows)))


@dataclass(frozen=True, slots=True)
class Located:
    """A catalog row found in the frame: its box in frame pixels and the keypoints that agree."""

    row: int
    sku: str
    inliers: int
    xyxy: Box


def print_corners(local: LocalFeatures) -> NDArray[np.float64]:
    """The printed area of a packshot as the 4 corners of its keypoints' bounding box (clockwise).
    Keypoints, not the image frame: a packshot's white margin is not part of the product."""
    if len(local) == 0:
        return np.zeros((0, 2), np.float64)
    x1, y1 = local.points.min(axis=0)
    x2, y2 = local.points.max(axis=0)
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float64)


def is_convex(quad: NDArray[np.float64]) -> bool:
    """All turns the same way (a bow-tie or a folded quad turns both ways)."""
    edges = np.roll(quad, -1, axis=0) - quad
    turns = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
    return bool(np.all(turns > 0) or np.all(turns < 0))


def plausible_box(
    quad: NDArray[np.float64], frame_shape: tuple[int, ...], config: LocateConfig
) -> Box | None:
    """The frame box of a projected print, or None when the projection cannot be a product's face."""
    height, width = frame_shape[:2]
    if quad.shape != (4, 2) or not is_convex(quad):
        return None
    x1, y1 = quad.min(axis=0)
    x2, y2 = quad.max(axis=0)
    spanned = float((x2 - x1) * (y2 - y1))
    if spanned <= 0:
        return None
    cx1, cy1 = max(0.0, float(x1)), max(0.0, float(y1))
    cx2, cy2 = min(float(width), float(x2)), min(float(height), float(y2))
    # The visible part must itself be a product-sized box (a print projected mostly off-frame is not).
    visible = max(0.0, cx2 - cx1) * max(0.0, cy2 - cy1)
    if visible < config.min_area * width * height or visible < 0.5 * spanned:
        return None
    if visible_face(quad, width, height) > config.max_area * width * height:
        return None
    return (cx1, cy1, cx2, cy2)


def visible_face(quad: NDArray[np.float64], width: int, height: int) -> float:
    """The area of a convex quadrilateral's part inside a width x height frame, in pixels."""
    frame = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    area, _ = cv2.intersectConvexConvex(np.ascontiguousarray(quad, np.float32), frame)
    return float(area)


def _intersection(a: Box, b: Box) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def box_overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box: 1 when one box lies inside the other. A sibling's print
    (one panel of the same carton) locates inside the better match's box, at a low IoU."""
    smaller = min(_area(a), _area(b))
    return _intersection(a, b) / smaller if smaller > 0 else 0.0


def suppress(found: Sequence[Located], config: LocateConfig) -> list[Located]:
    """Best-supported first; a box overlapping a better one (a sibling's print) is dropped."""
    kept: list[Located] = []
    ranked = sorted(found, key=lambda item: (-item.inliers, item.row))
    bar = config.focus_ratio * ranked[0].inliers if ranked else 0.0
    for candidate in ranked:
        if candidate.inliers < bar:
            break
        if all(box_overlap(candidate.xyxy, other.xyxy) <= config.max_overlap for other in kept):
            kept.append(candidate)
        if len(kept) == config.max_products:
            break
    return kept


def locate_products(
    image: Image,
    index: CatalogIndex,
    config: LocateConfig,
    *,
    rows: Sequence[int] | None = None,
    region: Box | None = None,
    min_inliers: int | None = None,
) -> list[Located]:
    """Catalog products whose print is in `image` (BGR), best-supported first. `rows` limits the
    search to those catalog rows (following products already found); `region` limits it to a part
    of the frame (keypoints are computed there only, boxes come back in frame pixels); `min_inliers`
    replaces the config's bar (a caller confirming tentative finds asks for fewer). Without `rows`, a
    catalog over its row budget (`LocateConfig.row_budget`) is searched in its best-voted rows only
    (`searched_rows`)."""
    bar = config.min_inliers if min_inliers is None else min_inliers
    left, top = 0, 0
    view = image
    if region is not None:
        height, width = image.shape[:2]
        left, top = max(0, int(region[0])), max(0, int(region[1]))
        right, bottom = min(width, int(np.ceil(region[2]))), min(height, int(np.ceil(region[3])))
        if right - left < 16 or bottom - top < 16:
            return []
        view = image[top:bottom, left:right]
    factor = min(1.0, config.max_side / max(image.shape[:2]))
    if factor < 1.0:
        view = np.asarray(
            cv2.resize(view, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA), np.uint8
        )
    local = extract_local_features(view, upscale_to=0, max_features=config.max_keypoints)
    if len(local) < MIN_MATCHES:
        return []
    frame_points = local.points / np.float32(factor) + np.array([left, top], np.float32)
    shifted = LocalFeatures(frame_points.astype(np.float32), local.descriptors)
    query = MatchingQuery.of(shifted)
    found: list[Located] = []
    for row in rows if rows is not None else searched_rows(index, query, config):
        best: Located | None = None
        for digest in index.products[row].image_digests:
            if digest not in index.packshot_digests:
                # A scene's keypoints cover the shelf around the product too: its "printed area" is the
                # whole photo, and a near-twin shot located there as a box the width of the frame whose
                # crop no packshot confirmed (BENCHMARKS.md, End to end). Scenes still rank in linking.
                continue
            packshot = index.image_features[digest].local
            fit = similarity_fit(query, packshot, config.reprojection_px)
            if fit is None or fit[1] < bar or (best is not None and fit[1] <= best.inliers):
                continue
            quad = project_affine(fit[0], print_corners(packshot))
            box = plausible_box(quad, image.shape, config) if quad is not None else None
            if box is not None:
                best = Located(int(row), index.products[row].sku, fit[1], box)
        if best is not None:
            found.append(best)
    return suppress(found, config)


def searched_rows(index: CatalogIndex, query: MatchingQuery, config: LocateConfig) -> Sequence[int]:
    """The catalog rows a whole-frame look tries: all of them within the row budget, the rows the
    frame's keypoints vote for beyond (one more row than the budget loses only the least-voted row, so
    a catalog crossing it keeps its answers)."""
    budget = config.row_budget(len(index))
    if budget >= len(index):
        return range(len(index))
    return print_shortlist_for(index).shortlist(query.descriptors, budget)


def similarity_fit(
    query: MatchingQuery, packshot: LocalFeatures, reprojection_px: float
) -> tuple[NDArray[np.float64], int] | None:
    """(2x3 similarity from packshot pixels to frame pixels, inliers), or None with too few matches.

    A similarity (scale, rotation, shift), not the linker's homography: a held product faces the
    camera roughly square-on, and 4 degrees of freedom cannot be bent to fit chance matches the way
    8 can; at the linker's loose 8 px a homography fitted to a whole frame's matches often maps the
    packshot's corners to infinity. The tolerance is in frame pixels."""
    if len(query) < 6 or len(packshot) < 2:
        return None
    query_rows, packshot_rows = ratio_test_matches(query.descriptors, packshot.descriptors)
    if query_rows.size < MIN_MATCHES:
        return None
    source = packshot.points[packshot_rows].astype(np.float32)
    target = query.points[query_rows].astype(np.float32)
    matrix, mask = cv2.estimateAffinePartial2D(
        source, target, method=cv2.RANSAC, ransacReprojThreshold=reprojection_px, maxIters=500
    )
    if matrix is None or mask is None:
        return None
    return np.asarray(matrix, dtype=np.float64), int(mask.sum())


def project_affine(matrix: NDArray[np.float64], points: NDArray[np.float64]) -> NDArray[np.float64] | None:
    if points.shape[0] == 0 or not np.all(np.isfinite(matrix)):
        return None
    return np.asarray(points @ matrix[:, :2].T + matrix[:, 2], dtype=np.float64)
