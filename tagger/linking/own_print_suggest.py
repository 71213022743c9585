"""Own-print marks suggested from the brand's footage: boxes on the packshot where the product's own
pack, as its approved placements show it, matches, and no other product does.

A brand marks what only its product prints (`tagger.linking.own_print`), but the packshot is not
always the pack as sold: on the episode benchmark 11 of the 17 marked products the episodes show had
placements whose print matched the packshot while fewer than the marks' bar landed inside the boxes
(`own_print_footage`: Arla Sour Cream's box sat on the summer edition's landscape, which no carton in
the shop prints). The footage itself says where the pack carries the packshot's print: every approved
placement's crops, verified against the packshot as the linker verifies them, land on keypoints of it.
Other products say where not to draw: their packshots' shared print (`own_print_check`, under one
upright similarity) and their packs in the footage (placements approved as them).

The search runs on a grid of the image: every rectangle of cells is scored at once from summed-area
tables, and up to `MAX_SUGGESTED_BOXES` disjoint rectangles are taken greedily. A rectangle is allowed
only while every other product and every other placement lands at most `FOREIGN_ALLOWED` keypoints
inside the boxes together (half the marks' bar: a sibling stays well short of it, not a keypoint
away), and the boxes are ranked by how many own placements they confirm (`OWN_PRINT_CONFIRMING_INLIERS`
inside), then pass (`OWN_PRINT_INLIERS`), then by the own keypoints they hold, the smaller box first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tagger.arrays import FloatArray
from tagger.linking.linker import OWN_PRINT_CONFIRMING_INLIERS, OWN_PRINT_INLIERS
from tagger.linking.own_print import Box, inside_mask, points_inside

# Cells per side of the grid the boxes snap to (5 % of the image).
GRID = 20
MAX_SUGGESTED_BOXES = 3
# The most keypoints any one other product (or other placement) may land inside the suggested boxes.
FOREIGN_ALLOWED = OWN_PRINT_INLIERS // 2
# An own crop counts at most this many keypoints toward a box's score: past confirming, more is not
# safer, and one very sharp crop should not outvote the others.
_SCORE_CAP = OWN_PRINT_CONFIRMING_INLIERS


@dataclass(frozen=True, slots=True)
class MarksSuggestion:
    """Boxes (fractions of the marked image), each own placement's best crop's keypoints inside them (in
    the order given), the most any other product or placement lands there, and the marked image's own
    keypoints inside; `reason` says why there are no boxes, when there are none."""

    boxes: tuple[Box, ...]
    own_inside: tuple[int, ...]
    foreign_inside: int
    packshot_keypoints: int
    reason: str = ""


def _cell_counts(points: FloatArray, size: tuple[int, int]) -> NDArray[np.int32]:
    """How many of `points` (pixels of the image; `size` its height, width) fall in each grid cell."""
    height, width = size
    xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    counts = np.zeros((GRID, GRID), np.int32)
    if xy.size:
        columns = np.clip((xy[:, 0] / max(width, 1) * GRID).astype(int), 0, GRID - 1)
        rows = np.clip((xy[:, 1] / max(height, 1) * GRID).astype(int), 0, GRID - 1)
        np.add.at(counts, (rows, columns), 1)
    return counts


# Every rectangle of grid cells, as (first row, last row + 1, first column, last column + 1).
_SPANS = np.array([(start, stop) for start in range(GRID) for stop in range(start + 1, GRID + 1)])
_RECTANGLES = np.array([(r0, r1, c0, c1) for r0, r1 in _SPANS for c0, c1 in _SPANS], dtype=np.int64)


_ORDER = np.arange(len(_RECTANGLES))


def _rectangle_sums(counts: NDArray[np.int32]) -> NDArray[np.int32]:
    """For a stack of grid counts (N x GRID x GRID), each one's sum over every rectangle (N x R)."""
    table = np.zeros((counts.shape[0], GRID + 1, GRID + 1), np.int32)
    table[:, 1:, 1:] = counts.cumsum(axis=1).cumsum(axis=2)
    r0, r1, c0, c1 = _RECTANGLES.T
    return table[:, r1, c1] - table[:, r0, c1] - table[:, r1, c0] + table[:, r0, c0]


def _box(rectangle: NDArray[np.int64]) -> Box:
    r0, r1, c0, c1 = (int(value) for value in rectangle)
    return (c0 / GRID, r0 / GRID, c1 / GRID, r1 / GRID)


def suggest_marks(
    marked_size: tuple[int, int],
    packshot_points: FloatArray,
    own: Sequence[Sequence[FloatArray]],
    foreign: Sequence[FloatArray],
) -> MarksSuggestion:
    """Boxes on the marked image (`marked_size`: height, width; `packshot_points`: its keypoints) from
    `own`, each own placement's crops' keypoints matched on it (`own_print_footage.
    matched_on_marked_image`), avoiding `foreign`, each other product's or placement's matched keypoints
    there."""
    placements = [list(crops) for crops in own if len(crops)]
    if not placements:
        return MarksSuggestion((), (), 0, 0, "no placement approved as this product to learn from")
    crops = [crop for crops in placements for crop in crops]
    owner = np.repeat(np.arange(len(placements)), [len(crops) for crops in placements])
    own_sums = _rectangle_sums(np.stack([_cell_counts(crop, marked_size) for crop in crops]))
    # Print with no more points than the bound allows can never break it: left out, so a large catalog's
    # many chance matches cost nothing (each kept one is a row of sums over all 44,100 rectangles).
    binding = [points for points in foreign if len(points) > FOREIGN_ALLOWED]
    foreign_sums = _rectangle_sums(
        np.stack(
            [_cell_counts(points, marked_size) for points in binding] or [np.zeros((GRID, GRID), np.int32)]
        )
    )

    taken = np.zeros((GRID, GRID), bool)
    chosen: list[int] = []
    own_total = np.zeros(len(crops), np.int32)
    foreign_total = np.zeros(foreign_sums.shape[0], np.int32)
    best_key: tuple[float, ...] = (0.0, 0.0, 0.0)
    for _ in range(MAX_SUGGESTED_BOXES):
        free = ~_overlaps(taken)
        allowed = free & np.all(foreign_total[:, None] + foreign_sums <= FOREIGN_ALLOWED, axis=0)
        if not allowed.any():
            break
        with_box = own_total[:, None] + own_sums  # crops x rectangles
        per_placement = np.zeros((len(placements), with_box.shape[1]), np.int32)
        np.maximum.at(per_placement, owner, with_box)  # a placement counts its best crop
        confirmed = (per_placement >= OWN_PRINT_CONFIRMING_INLIERS).sum(axis=0)
        passed = (per_placement >= OWN_PRINT_INLIERS).sum(axis=0)
        held = np.minimum(per_placement, _SCORE_CAP).sum(axis=0)
        area = (_RECTANGLES[:, 1] - _RECTANGLES[:, 0]) * (_RECTANGLES[:, 3] - _RECTANGLES[:, 2])
        # Lexicographic, among the allowed: confirmed, then passed, then keypoints held, then the smaller
        # box, then the first in grid order (np.lexsort's last key is its first; the best comes last).
        ranked = np.lexsort((-_ORDER, -area, held, passed, confirmed, allowed))
        pick = int(ranked[-1])
        key = (float(confirmed[pick]), float(passed[pick]), float(held[pick]))
        if not allowed[pick] or key <= best_key:
            break
        best_key = key
        chosen.append(pick)
        own_total = with_box[:, pick]
        foreign_total = foreign_total + foreign_sums[:, pick]
        r0, r1, c0, c1 = (int(value) for value in _RECTANGLES[pick])
        taken[r0:r1, c0:c1] = True
    passing = int((per_placement_best(own_total, owner, len(placements)) >= OWN_PRINT_INLIERS).sum())
    if not chosen or 2 * passing < len(placements):
        return MarksSuggestion(
            (),
            (0,) * len(placements),
            0,
            0,
            "no boxes hold enough of this product's print as its footage shows it (the marks' bar in at "
            "least half its placements) without another product's print: add a packshot of the pack as "
            "sold, then approve its placements and ask again",
        )
    boxes = tuple(_box(_RECTANGLES[pick]) for pick in chosen)
    # Counted again on the boxes themselves, as approval counts (a point on a shared edge once).
    own_inside = tuple(max(points_inside(crop, marked_size, boxes) for crop in crops) for crops in placements)
    foreign_inside = max((points_inside(points, marked_size, boxes) for points in foreign), default=0)
    packshot_keypoints = int(inside_mask(packshot_points, marked_size, boxes).sum())
    return MarksSuggestion(boxes, own_inside, foreign_inside, packshot_keypoints)


def per_placement_best(
    crop_counts: NDArray[np.int32], owner: NDArray[np.int64], placements: int
) -> NDArray[np.int32]:
    """Each placement's best crop's count, from per-crop counts and the placement each crop is of."""
    best = np.zeros(placements, np.int32)
    np.maximum.at(best, owner, crop_counts)
    return best


def _overlaps(taken: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Which rectangles overlap a cell already taken by a chosen box."""
    if not taken.any():
        return np.zeros(len(_RECTANGLES), bool)
    table = np.zeros((GRID + 1, GRID + 1), np.int64)
    table[1:, 1:] = taken.astype(np.int64).cumsum(axis=0).cumsum(axis=1)
    r0, r1, c0, c1 = _RECTANGLES.T
    return np.asarray((table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]) > 0)
