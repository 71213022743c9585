"""Own-print marks checked against the brand's own footage, where the catalog's packshots cannot tell.

The catalog check (`own_print_check`) compares the marks with the other products' packshots. A pack on
the shelf is not always its packshot: God Morgon Orange's marks (the word "orange", the orange slices)
pass that check, since the Orange & Red Grapefruit packshot shows other slices, yet the Orange & Red
Grapefruit carton in the shop prints both, and one carton of it put 26 keypoints inside Orange's marks,
past the 20 that confirm a product (BENCHMARKS.md, End to end). Crops of placements already approved as
another product are that pack as the camera sees it: counted as the linker counts a crop against the
marked image (keypoints verified under one plausible view, those landing inside the boxes), any that
reaches the marks' bar is print the product does not own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tagger.arrays import FloatArray, Image
from tagger.linking.features import FeatureConfig
from tagger.linking.index import CatalogIndex
from tagger.linking.keypoints import MatchingQuery, extract_local_features, verify
from tagger.linking.linker import OWN_PRINT_INLIERS
from tagger.linking.own_print import Box, inside_mask, places_on_image, points_inside
from tagger.linking.own_print_check import OwnPrintCheckError


@dataclass(frozen=True, slots=True)
class FootagePrint:
    """A crop of the footage whose print lands inside the marks: `inliers` inside all boxes together
    (as approval counts them), `per_box` inside each, and where (x and y as fractions of the marked
    image, each place once). `key` is the caller's name for the crop (a placement)."""

    key: str
    inliers: int
    per_box: tuple[int, ...]
    points: tuple[tuple[float, float], ...]


def matched_on_marked_image(
    index: CatalogIndex, image_digest: str, crops: Sequence[Image], config: FeatureConfig | None = None
) -> tuple[FloatArray, ...]:
    """For each crop of one placement, the marked image's keypoints (its pixels) it matches, verified as
    the linker verifies a crop (its keypoints at the linker's scale, one plausible view). Independent of
    the boxes, so a caller can keep it while a brand redraws them."""
    marked = index.image_features.get(image_digest)
    if marked is None:
        raise OwnPrintCheckError(
            "the marked image is not in the catalog index yet: it is indexed by the next link or tag job"
        )
    chosen = config or FeatureConfig()
    matched = []
    for crop in crops:
        local = extract_local_features(
            crop, upscale_to=chosen.keypoint_side_px, max_features=chosen.max_keypoints
        )
        matched.append(verify(MatchingQuery.of(local), marked.local).candidate_points)
    return tuple(matched)


def footage_inside_marks(
    marked_size: tuple[int, int], boxes: Sequence[Box], matched: Sequence[tuple[str, Sequence[FloatArray]]]
) -> tuple[FootagePrint, ...]:
    """Of each placement's crops (`matched_on_marked_image`, by key) the one with most matched
    keypoints inside the boxes, as approval takes its best crop; those reaching the marks' bar
    (`OWN_PRINT_INLIERS`), most first."""
    found = []
    for key, crops in matched:
        if not crops:
            continue
        points = max(crops, key=lambda crop: int(inside_mask(crop, marked_size, boxes).sum()))
        inside = inside_mask(points, marked_size, boxes)
        if int(inside.sum()) < OWN_PRINT_INLIERS:
            continue
        per_box = tuple(points_inside(points, marked_size, [box]) for box in boxes)
        found.append(
            FootagePrint(key, int(inside.sum()), per_box, places_on_image(points[inside], marked_size))
        )
    found.sort(key=lambda item: (-item.inliers, item.key))
    return tuple(found)
