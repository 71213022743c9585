"""Words printed where a packshot's print matched: does the pack say it is another variant?

Siblings of one brand share logo and layout, and the keypoints fall there; what names the variant is a
word beside the logo ("apple", "orange", "red grapefruit" on three God Morgon cartons). When the
variant shown is not in the catalog, its sibling's packshot still matches with dozens of inliers, in
the same inks, and was auto-approved (BENCHMARKS.md, End to end: products left out of the catalog).

The verified homography says where the packshot lies in the crop. A word OCR read inside it belongs to
that pack's print. If it is a word the brand uses to name products (a word of some catalog title) and
the SKU's own text (title, description, the words read on its packshot) lacks it, the pack names a
product that is not this SKU: print evidence for this SKU is contradicted. Words outside the matched
print (a neighbouring carton on the shelf) say nothing about it, which is what an unlocated rule got
wrong on shelf photos.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from tagger.arrays import FloatArray, Image
from tagger.linking.images import foreground_mask
from tagger.linking.text import TextVocabulary

# How close OCR's word must be to a naming word to say the pack names it (difflib's ratio). Stricter
# than the text signal's fuzzy match (0.75), which reads a neighbouring carton's cut-off "ple" as
# "apple"; one wrong letter in a word of five or more passes ("appie" for "apple" is 0.8).
MIN_NAMING_SIMILARITY = 0.8


def words_on_print(
    word_points: FloatArray,
    homography: NDArray[np.float64],
    candidate_thumbnail: Image,
    candidate_size: tuple[int, int],
) -> NDArray[np.bool_]:
    """Which word places (query pixels) the homography (query -> packshot pixels) puts on the
    packshot's product (the convex hull of its non-white area, read from the thumbnail: a white panel
    of a milk carton is print too).

    The projection is done here, not with cv2.perspectiveTransform, which maps a point at infinity
    (w = 0) to the origin and one behind the camera (w < 0) to a finite place; neither is on the print.
    A singular map (USAC returns some) places nothing."""
    none = np.zeros(len(word_points), dtype=bool)
    if word_points.size == 0 or candidate_thumbnail.size == 0 or not np.all(np.isfinite(homography)):
        return none
    matrix = np.asarray(homography, dtype=np.float64)
    if abs(matrix[2, 2]) < 1e-12 or abs(np.linalg.det(matrix / matrix[2, 2])) < 1e-9:
        return none
    matrix = matrix / matrix[2, 2]  # then w > 0 on the side of the plane the matched points are on
    points = np.asarray(word_points, dtype=np.float64).reshape(-1, 2)
    projected = np.column_stack([points, np.ones(len(points))]) @ matrix.T
    depth = projected[:, 2]
    in_front = depth > 1e-9
    mapped = np.full((len(points), 2), np.nan)
    mapped[in_front] = projected[in_front, :2] / depth[in_front, None]
    height, width = candidate_size
    side_y, side_x = candidate_thumbnail.shape[:2]
    inside = (
        np.all(np.isfinite(mapped), axis=1)
        & (mapped[:, 0] >= 0)
        & (mapped[:, 0] < width)
        & (mapped[:, 1] >= 0)
        & (mapped[:, 1] < height)
    )
    on_print = np.zeros(len(mapped), dtype=bool)
    if not inside.any():
        return on_print
    product = _product_area(candidate_thumbnail)
    xs = np.clip((mapped[inside, 0] * side_x / max(width, 1)).astype(np.int64), 0, side_x - 1)
    ys = np.clip((mapped[inside, 1] * side_y / max(height, 1)).astype(np.int64), 0, side_y - 1)
    on_print[np.flatnonzero(inside)] = product[ys, xs]
    return on_print


def _product_area(thumbnail: Image) -> NDArray[np.bool_]:
    """The convex hull of the packshot's non-white pixels."""
    mask = foreground_mask(thumbnail)
    points = cv2.findNonZero(mask)
    if points is None:
        return np.zeros(mask.shape, dtype=bool)
    hull = np.zeros_like(mask)
    cv2.fillConvexPoly(hull, cv2.convexHull(points), 255)
    return hull > 0


WordReadings = Mapping[str, frozenset[str]]


def word_readings(words: Sequence[str], vocabulary: TextVocabulary) -> dict[str, frozenset[str]]:
    """What each word OCR read may be: itself and its near misses among the catalog's words. Computed
    once per crop (≈ 0.5 ms a word at 10,000 SKUs), then judged against every verified candidate.
    Digits are not read as names (OCR confuses them, and sizes print in many ways)."""
    return {
        word: frozenset({word, *vocabulary.close_matches(word)})
        for word in dict.fromkeys(words)
        if word.isalpha()
    }


def foreign_words(
    words: Sequence[str],
    document: frozenset[str],
    readings: WordReadings,
    naming_words: frozenset[str],
) -> tuple[str, ...]:
    """The catalog naming words (`naming_words`, the words of the catalog's titles) that `words` read
    (exactly or as OCR's near misses, `readings`) and the SKU's own `document` lacks. A word close to
    any word of the document is the SKU's own ("grapefrukt" for "grapefruit")."""
    found: list[str] = []
    for word in dict.fromkeys(words):
        if word not in readings or readings[word] & document:
            continue
        named = sorted(
            (-difflib.SequenceMatcher(None, word, reading).ratio(), reading)
            for reading in readings[word] & naming_words
        )
        if named and -named[0][0] >= MIN_NAMING_SIMILARITY and named[0][1] not in found:
            found.append(named[0][1])
    return tuple(found)
