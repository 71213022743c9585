"""Own-print marks checked against the brand's own footage, where the catalog's packshots cannot tell.

The catalog check (`own_print_check`) compares the marks with the other products' packshots. A pack on
the shelf is not always its packshot: God Morgon Orange's marks (the word "orange", the orange slices)
pass that check, since the Orange & Red Grapefruit packshot shows other slices, yet the Orange & Red
Grapefruit carton in the shop prints both, and one carton of it put 26 keypoints inside Orange's marks,
past the 20 that confirm a product (BENCHMARKS.md, End to end). Crops of placements already approved as
another product are that pack as the camera sees it: counted as the linker counts a crop against the
marked image (keypoints verified under one plausible view, those landing inside the boxes), any that
reaches the marks' bar is print the product does not own.

The other way round, crops of placements approved as the product itself are its pack as sold: where
their print matches the packshot but hardly any of it lands inside the boxes, the marks sit on print
that pack lacks (Arla Sour Cream's packshot is the summer edition, and the benchmark's box on its
summer landscape got 0 keypoints from the cartons in the shop while the rest of the print matched 52-105),
and the linker will never approve that pack (`print_evidence`: fewer than OWN_PRINT_INLIERS inside).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tagger.arrays import FloatArray, Image
from tagger.linking.features import FeatureConfig
from tagger.linking.index import CatalogIndex
from tagger.linking.keypoints import MatchingQuery, extract_local_features, verify
from tagger.linking.linker import OWN_PRINT_INLIERS, PRINT_EVIDENCE_INLIERS
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


def _best_inside(
    crops: Sequence[FloatArray], marked_size: tuple[int, int], boxes: Sequence[Box]
) -> FloatArray:
    """The crop with most matched keypoints inside the boxes, as approval takes a placement's best crop."""
    return max(crops, key=lambda crop: points_inside(crop, marked_size, boxes))


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
        points = _best_inside(crops, marked_size, boxes)
        inside = inside_mask(points, marked_size, boxes)
        if int(inside.sum()) < OWN_PRINT_INLIERS:
            continue
        per_box = tuple(points_inside(points, marked_size, [box]) for box in boxes)
        found.append(
            FootagePrint(key, int(inside.sum()), per_box, places_on_image(points[inside], marked_size))
        )
    found.sort(key=lambda item: (-item.inliers, item.key))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class OwnFootagePrint:
    """A placement of the product itself against its marks: `inliers` inside the boxes in its best crop
    (as approval counts them) and `per_box`; `matched`, the most keypoints any of its crops matched on
    the marked image (its print seen when at least PRINT_EVIDENCE_INLIERS); `points`, where that crop
    matched, inside the boxes or not (fractions of the marked image, each place once): where the pack
    as filmed carries the packshot's print, for the brand to draw on."""

    key: str
    inliers: int
    per_box: tuple[int, ...]
    matched: int
    points: tuple[tuple[float, float], ...]

    @property
    def print_seen(self) -> bool:
        return self.matched >= PRINT_EVIDENCE_INLIERS

    @property
    def misses_marks(self) -> bool:
        """Its print matched, yet too little of it inside the boxes for the linker ever to approve it."""
        return self.print_seen and self.inliers < OWN_PRINT_INLIERS


def own_footage_against_marks(
    marked_size: tuple[int, int], boxes: Sequence[Box], matched: Sequence[tuple[str, Sequence[FloatArray]]]
) -> tuple[OwnFootagePrint, ...]:
    """Each of the product's own placements (`matched_on_marked_image`, by key) against the boxes, those
    that miss the marks first (fewest inside first), then the rest in the order given."""
    found = []
    for key, crops in matched:
        if not crops:
            continue
        best_inside = _best_inside(crops, marked_size, boxes)
        most_matched = max(crops, key=len)
        found.append(
            OwnFootagePrint(
                key,
                points_inside(best_inside, marked_size, boxes),
                tuple(points_inside(best_inside, marked_size, [box]) for box in boxes),
                len(most_matched),
                places_on_image(most_matched, marked_size),
            )
        )
    # A stable sort: the rest keep the order given (newest first, as the API passes them).
    found.sort(key=lambda item: (0, item.inliers) if item.misses_marks else (1, 0))
    return tuple(found)
