"""A product's own print: the part of its pack that its siblings do not share, marked by the brand.

Siblings of one brand share logo, card and layout, so a variant that is not in the catalog matches
its sibling's packshot with dozens of inliers in the same inks, and nothing read at episode resolution
tells them apart: Yoggi Vanilla's carton matched Yoggi Strawberry's packshot with 43-47 inliers and was
auto-approved as it at 0.807; Arla Sour Cream's matched Arla Ecological Sour Cream's with 60-75 and was
approved at 0.806 (BENCHMARKS.md, End to end). The catalog cannot know which part of a print is the
variant's own when the other variant is missing from it (inliers on "unshared" keypoints, marked against
the catalog, approved the same cartons), and OCR rarely reads the variant's name on a crop of a frame.
The brand knows: the strawberries and "jordgubb", the large "eko". Boxes around that part of one
of the product's images (`CatalogItem.own_print`, on `own_print_image`) make auto-approval need
keypoints matched inside them (`linker.print_evidence`); the family's print alone then proposes the link
for review, and twice the bar inside them confirms the product (approved from a lower confidence,
`LinkThresholds.own_print_approve`).

A box is (x0, y0, x1, y1) in fractions of the image's width and height, x0 < x1 and y0 < y1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from tagger.arrays import FloatArray

Box = tuple[float, float, float, float]

MAX_BOXES = 16
# The text form (catalog CSV column `own_print`): boxes separated by ";", each four numbers.
BOX_SEPARATOR = ";"


class OwnPrintError(ValueError):
    """An own-print box that cannot be: a message a brand can act on."""


def check_boxes(boxes: Iterable[Sequence[float]]) -> tuple[Box, ...]:
    """The boxes as tuples, or OwnPrintError naming the first wrong one (numbers out of 0-1, an empty or
    inverted box, too many boxes)."""
    checked: list[Box] = []
    for position, box in enumerate(boxes, start=1):
        values = tuple(float(value) for value in box)
        if len(values) != 4:
            raise OwnPrintError(f"box {position}: needs four numbers x0 y0 x1 y1, got {len(values)}")
        if not all(np.isfinite(values)) or not all(0.0 <= value <= 1.0 for value in values):
            raise OwnPrintError(f"box {position}: numbers must be fractions of the image, 0 to 1")
        x0, y0, x1, y1 = values
        if not (x0 < x1 and y0 < y1):
            raise OwnPrintError(f"box {position}: needs x0 < x1 and y0 < y1 (left, top, right, bottom)")
        checked.append((x0, y0, x1, y1))
    if len(checked) > MAX_BOXES:
        raise OwnPrintError(f"at most {MAX_BOXES} boxes, got {len(checked)}")
    return tuple(checked)


def parse_own_print(text: str) -> tuple[Box, ...]:
    """Boxes from their text form, "x0 y0 x1 y1; x0 y0 x1 y1" (commas also separate numbers); an empty
    text is no box."""
    boxes: list[list[float]] = []
    for position, part in enumerate(text.split(BOX_SEPARATOR), start=1):
        numbers = part.replace(",", " ").split()
        if not numbers:  # an empty text, or a trailing separator
            continue
        try:
            boxes.append([float(number) for number in numbers])
        except ValueError as error:
            raise OwnPrintError(f"box {position}: {part.strip()!r} is not four numbers") from error
    return check_boxes(boxes)


def format_own_print(boxes: Sequence[Box]) -> str:
    """The text form `parse_own_print` reads, exact (each number as Python writes it back): it is also
    part of the index version, so any change of a box rebuilds the index."""
    return f"{BOX_SEPARATOR} ".join(" ".join(repr(value) for value in box) for box in boxes)


def inside_mask(points: FloatArray, size: tuple[int, int], boxes: Sequence[Box]) -> NDArray[np.bool_]:
    """Which of `points` (x, y in the image's pixels; `size` is its height, width) lie in a box."""
    xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    inside = np.zeros(len(xy), dtype=bool)
    if not boxes or xy.size == 0:
        return inside
    height, width = size
    xs, ys = xy[:, 0] / max(width, 1), xy[:, 1] / max(height, 1)
    for x0, y0, x1, y1 in boxes:
        inside |= (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
    return inside


def points_inside(points: FloatArray, size: tuple[int, int], boxes: Sequence[Box]) -> int:
    """How many of `points` (x, y in the image's pixels; `size` is its height, width) lie in a box."""
    return int(inside_mask(points, size, boxes).sum())


def places_on_image(points: FloatArray, size: tuple[int, int]) -> tuple[tuple[float, float], ...]:
    """Where `points` (x, y in the image's pixels; `size` is its height, width) are, each place once (SIFT
    may give one place a keypoint per orientation), as fractions of the image: for an editor to draw."""
    height, width = size
    places = np.unique(np.round(np.asarray(points, dtype=np.float64).reshape(-1, 2)), axis=0)
    return tuple((round(float(x) / max(width, 1), 4), round(float(y) / max(height, 1), 4)) for x, y in places)
