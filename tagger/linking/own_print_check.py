"""Whether a product's own-print marks can do their job, checked against the catalog before any episode.

Marks (`tagger.linking.own_print`) approve a link only when a crop's keypoints match inside them, so
they work when they hold print that (a) has keypoints at all, enough to confirm the product
(`OWN_PRINT_CONFIRMING_INLIERS` matched inside them), and (b) no other catalog product prints. A box
over a plain panel fails (a); a box that takes in what siblings share, a logo or a serving picture,
fails (b), and then a sibling's carton scores inside the marks as if it were this product: on the
episode benchmark Arla Vanilla Yoghurt's carton matched 27 keypoints inside Arla Natural Mild's marks,
whose box took in the granola bowl both packs show (BENCHMARKS.md, End to end).

The check answers both from the catalog index alone: the keypoints of the marked packshot inside each
box, and, for every other product's packshot, how many keypoints inside the boxes it matches under one
transform (a similarity: two packshots face the camera alike), as a crop that looked like that packshot
would be counted (`linker` verifies a crop against the marked image and counts the inliers that land in
the boxes). A packshot is the sibling's
cleanest view, so a clean check is a floor on safety, not a proof; what it finds is a box to redraw.

A large catalog is not compared in full: the marked print's keypoints vote for the rows a whole-frame
look would search (`locate.searched_rows`), so a check costs at most a few hundred verifications.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from tagger.arrays import FloatArray
from tagger.linking.errors import LinkingError
from tagger.linking.features import ImageFeatures
from tagger.linking.index import CatalogIndex
from tagger.linking.keypoints import (
    MIN_MATCHES_FOR_RANSAC,
    RANSAC_REPROJECTION_PX,
    LocalFeatures,
    MatchingQuery,
    QuantizedDescriptors,
    ratio_test_matches,
)
from tagger.linking.linker import OWN_PRINT_CONFIRMING_INLIERS, OWN_PRINT_INLIERS
from tagger.linking.locate import LocateConfig, searched_rows
from tagger.linking.own_print import Box, check_boxes, inside_mask, places_on_image, points_inside

# Other products listed per check: the worst offenders are what a brand acts on.
MAX_SHARED = 5
# Two packshots show a product at about the same share of the picture: a fit that shrinks or grows one
# by more than this against the other's size is chance, not shared print.
MAX_SCALE_CHANGE = 4.0
# ... and upright, as packshots are: a fit turning one by more than this is chance.
MAX_TURN_DEGREES = 30.0


class OwnPrintCheckError(LinkingError):
    """The marks cannot be checked (their image is not in the index yet): a message a brand can act on."""


class MarksOnSceneError(OwnPrintCheckError):
    """The marks are on an image that is not a packshot of the product alone (a shop or lifestyle photo):
    the linker verifies keypoints on packshots only, so such marks can never approve anything."""


@dataclass(frozen=True, slots=True)
class SharedPrint:
    """Another product whose packshot matches keypoints inside the marks: `inliers` inside all boxes
    together (what approval counts), `per_box` inside each, and where they are (`points`, x and y as
    fractions of the marked image), for an editor to show what the boxes should leave out."""

    sku: str
    title: str
    inliers: int
    per_box: tuple[int, ...]
    points: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True, slots=True)
class OwnPrintCheck:
    """Keypoints of the marked image inside each box, and the products that print what the boxes hold
    (`inliers` at or above `OWN_PRINT_INLIERS`, the marks' bar: a crop of such a product passes it),
    worst first."""

    keypoints: tuple[int, ...]
    shared: tuple[SharedPrint, ...]
    compared: int  # how many other products were compared
    # Inside the boxes taken together, as approval counts them (overlapping boxes hold a point once).
    total_keypoints: int = 0

    @property
    def can_confirm(self) -> bool:
        """Enough keypoints inside the boxes for a crop to confirm the product (the lower approval level
        needs `OWN_PRINT_CONFIRMING_INLIERS` matched there; fewer keypoints cannot give that many)."""
        return self.total_keypoints >= OWN_PRINT_CONFIRMING_INLIERS

    @property
    def ok(self) -> bool:
        return self.can_confirm and not self.shared

    def problems(self, name: Callable[[SharedPrint], str] | None = None) -> list[str]:
        """What is wrong with the marks, in words a brand can act on (empty when nothing is); `name` says
        what to call another product (its title and SKU, unless given)."""
        name = name or (lambda other: f"{other.title} ({other.sku})")
        found = []
        if not self.can_confirm:
            found.append(
                f"the boxes hold {self.total_keypoints} keypoints: confirming the product needs "
                f"{OWN_PRINT_CONFIRMING_INLIERS} matched inside them, so draw them over detailed print "
                "(its name, flavour picture or lettering), not a plain panel"
            )
        for other in self.shared:
            ranked = sorted(enumerate(other.per_box, start=1), key=lambda item: (-item[1], item[0]))
            boxes = ", ".join(f"{count} in box {n}" for n, count in ranked if count)
            found.append(
                f"{name(other)} matches {other.inliers} keypoints inside them ({boxes}): that "
                "print is not this product's own, so its packs would count as this product; shrink or "
                "move those boxes off what both packs print"
            )
        return found


def check_own_print(
    index: CatalogIndex, sku: str, image_digest: str, boxes: Sequence[Sequence[float]]
) -> OwnPrintCheck:
    """Check marks `boxes` on the image `image_digest` of product `sku` against every other product's
    packshots in `index` (the rows a whole-frame look would search, in a large catalog)."""
    checked = check_boxes(boxes)
    marked = _marked_packshot(index, image_digest)
    keypoints = tuple(points_inside(marked.local.points, marked.size, [box]) for box in checked)
    total = points_inside(marked.local.points, marked.size, checked)
    rows = _rows_to_compare(index, sku, marked, checked)
    shared = []
    for row in rows:
        product = index.products[row]
        best = SharedPrint(product.sku, product.title, 0, ())
        for digest in product.image_digests:
            if digest not in index.packshot_digests or digest == image_digest:
                continue
            other = index.image_features[digest]
            if len(other.local) < 2:
                continue
            landed = _shared_points(_as_query(other.local), other.size, marked)
            inside = inside_mask(landed, marked.size, checked)
            if int(inside.sum()) > best.inliers:
                per_box = tuple(points_inside(landed, marked.size, [box]) for box in checked)
                points = places_on_image(landed[inside], marked.size)
                best = SharedPrint(product.sku, product.title, int(inside.sum()), per_box, points)
        if best.inliers >= OWN_PRINT_INLIERS:
            shared.append(best)
    shared.sort(key=lambda item: (-item.inliers, item.sku))
    return OwnPrintCheck(keypoints, tuple(shared[:MAX_SHARED]), len(rows), total)


def others_print_on(index: CatalogIndex, sku: str, image_digest: str) -> tuple[FloatArray, ...]:
    """For every other product's packshot (the rows a whole-frame look would search, in a large catalog),
    the marked image's keypoints it matches under one similarity, wherever they are: where marks must
    not go (`own_print_suggest`). Only those matching something are returned. Refuses what
    `check_own_print` refuses: an image not indexed yet, a scene."""
    marked = _marked_packshot(index, image_digest)
    landed = []
    for row in _rows_to_compare(index, sku, marked, [(0.0, 0.0, 1.0, 1.0)]):
        for digest in index.products[row].image_digests:
            if digest not in index.packshot_digests or digest == image_digest:
                continue
            other = index.image_features[digest]
            if len(other.local) >= 2 and len(
                points := _shared_points(_as_query(other.local), other.size, marked)
            ):
                landed.append(points)
    return tuple(landed)


def _marked_packshot(index: CatalogIndex, image_digest: str) -> ImageFeatures:
    """The features of the image marks are drawn on, or why it cannot carry marks yet (or ever)."""
    marked = index.image_features.get(image_digest)
    if marked is None:
        raise OwnPrintCheckError(
            "the marked image is not in the catalog index yet: it is indexed by the next link or tag job"
        )
    if image_digest not in index.packshot_digests:
        raise MarksOnSceneError(
            "the marked image is not a packshot of the product alone (a shop or lifestyle photo): keypoints "
            "are matched on packshots only, so marks there can never approve; mark a packshot"
        )
    return marked


def _rows_to_compare(index: CatalogIndex, sku: str, marked: ImageFeatures, boxes: Sequence[Box]) -> list[int]:
    """Every other product, or in a catalog past the whole-frame look's row budget the rows that the
    marked print's keypoints inside the boxes vote for (the products printing what the boxes hold)."""
    local = marked.local
    inside = inside_mask(local.points, marked.size, boxes)
    if not inside.any():
        return []
    query = _as_query(local)
    held = MatchingQuery(
        query.points[inside],
        QuantizedDescriptors(query.descriptors.steps[inside], query.descriptors.squared_norms[inside]),
    )
    # Every row up to the look's cap (256): a check is asked for once, not at every frame.
    config = LocateConfig(row_share=1.0)
    return [int(row) for row in searched_rows(index, held, config) if index.products[int(row)].sku != sku]


def _shared_points(other: MatchingQuery, other_size: tuple[int, int], marked: ImageFeatures) -> FloatArray:
    """The marked image's keypoints that another packshot matches under one similarity (scale, rotation,
    shift) of a plausible scale. Two packshots face the camera alike, so print they share maps by a
    similarity, upright, at about the ratio of the images' sizes (God Morgon's siblings: scale 1.00,
    rotation 0, on 239 of 250 matches). A homography's 8 degrees of freedom, or a similarity collapsing
    one picture onto a point, also fit chance matches of a busy picture: a watermelon's stripes
    "matched" 23 keypoints inside God Morgon's marks at scale 0."""
    none = np.zeros((0, 2), np.float32)
    query_rows, marked_rows = ratio_test_matches(other.descriptors, marked.local.descriptors)
    if query_rows.size < MIN_MATCHES_FOR_RANSAC:
        return none
    source = other.points[query_rows].astype(np.float32)
    target = marked.local.points[marked_rows].astype(np.float32)
    matrix, mask = cv2.estimateAffinePartial2D(
        source, target, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_REPROJECTION_PX, maxIters=2000
    )
    if matrix is None or mask is None:
        return none
    expected = max(marked.size) / max(*other_size, 1)
    linear = np.asarray(matrix, np.float64)[:, :2]
    scale = float(np.sqrt(abs(np.linalg.det(linear))))
    turn = abs(float(np.degrees(np.arctan2(linear[1, 0], linear[0, 0]))))
    if not expected / MAX_SCALE_CHANGE <= scale <= expected * MAX_SCALE_CHANGE or turn > MAX_TURN_DEGREES:
        return none
    # Every matched keypoint counts, as approval counts them (SIFT may give one place a keypoint per
    # orientation; the linker counts each).
    return np.asarray(target[mask.ravel().astype(bool)], dtype=np.float32)


def _as_query(local: LocalFeatures) -> MatchingQuery:
    """A catalog image's keypoints as a query: its descriptors are kept quantized as candidates (int8
    steps of 0-127), and the same steps as unsigned bytes are the query form, exactly."""
    descriptors = local.descriptors
    if not isinstance(descriptors, QuantizedDescriptors):
        return MatchingQuery.of(local)
    steps = np.asarray(descriptors.steps)
    return MatchingQuery(
        local.points, QuantizedDescriptors(steps.astype(np.uint8), descriptors.squared_norms)
    )
