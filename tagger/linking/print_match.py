"""Where and how well a packshot's print matched: the evidence auto-approval needs to tell siblings apart.

Siblings of one brand (two fat levels of a milk, two flavours of a yoghurt) share the logo and most of
the layout, so a product that is not in the catalog still matches its sibling's packshot with dozens of
keypoint inliers. RootSIFT sees grey levels: a red carton and a green carton with the same lettering
match keypoint for keypoint. The hue at each inlier pair (where both sides are coloured) says whether
the matched print is the same ink. It is read at points RANSAC already verified, so it costs a few
microseconds a candidate.

Measured on grocery-dev and not kept (BENCHMARKS.md, Linking: sibling evidence): the share of the
packshot's printed area the inliers span (right matches spanned as little as 5 %, sibling matches up to
35 %), and hue agreement over the whole warped packshot (God Morgon's juices differ in a fruit picture
whose hues are close).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tagger.arrays import FloatArray, Image

# Lab chroma (distance from grey in the a/b plane, 0-~130) below which a pixel's hue is not read:
# white card, black text and grey shadows have no hue worth comparing, and store lighting tints them.
MIN_CHROMA = 15.0
# Two hues closer than this (degrees in the a/b plane) are the same ink under other light; red and green
# print are about 100° apart, orange and yellow about 30°.
SAME_HUE_DEGREES = 60.0
# Fewer coloured inlier pairs than this say nothing about colour (a black-on-white print).
MIN_COLOURED_PAIRS = 5


@dataclass(frozen=True, slots=True)
class PrintMatch:
    """One verified candidate's print evidence: its inliers, those coloured on both sides, and how many
    of those have the same hue on both."""

    inliers: int
    coloured_pairs: int
    same_colour_pairs: int
    # Catalog naming words read on the matched print that the SKU's text lacks (`print_words`).
    foreign_words: tuple[str, ...] = ()
    # Inliers inside the boxes the brand marked as the product's own print (`own_print`), on its first
    # image; 0 when it marked none.
    own_print_inliers: int = 0

    @property
    def colour_agreement(self) -> float | None:
        """Share of coloured inlier pairs with the same hue; None when too few to say."""
        if self.coloured_pairs < MIN_COLOURED_PAIRS:
            return None
        return self.same_colour_pairs / self.coloured_pairs


NO_MATCH = PrintMatch(0, 0, 0)


def _sample_lab(thumbnail: Image, size: tuple[int, int], points: FloatArray) -> FloatArray:
    """Lab a/b (centred on grey) of the thumbnail pixel under each point given in original pixels."""
    height, width = size
    side_y, side_x = thumbnail.shape[:2]
    xs = np.clip(np.floor(points[:, 0] * side_x / max(width, 1)).astype(np.int64), 0, side_x - 1)
    ys = np.clip(np.floor(points[:, 1] * side_y / max(height, 1)).astype(np.int64), 0, side_y - 1)
    pixels = np.ascontiguousarray(thumbnail[ys, xs].reshape(1, -1, 3))
    lab = cv2.cvtColor(pixels, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32)
    return lab[:, 1:] - 128.0


def colour_pairs(
    query_thumbnail: Image,
    query_size: tuple[int, int],
    candidate_thumbnail: Image,
    candidate_size: tuple[int, int],
    query_points: FloatArray,
    candidate_points: FloatArray,
) -> tuple[int, int]:
    """(inlier pairs coloured on both sides, those of the same hue). Thumbnails are the images squeezed
    to a square (`aligned.thumbnail`); points are in the original images' pixels."""
    if len(query_points) == 0 or query_thumbnail.size == 0 or candidate_thumbnail.size == 0:
        return 0, 0
    query_ab = _sample_lab(query_thumbnail, query_size, query_points)
    candidate_ab = _sample_lab(candidate_thumbnail, candidate_size, candidate_points)
    query_chroma = np.linalg.norm(query_ab, axis=1)
    candidate_chroma = np.linalg.norm(candidate_ab, axis=1)
    coloured = (query_chroma >= MIN_CHROMA) & (candidate_chroma >= MIN_CHROMA)
    if not coloured.any():
        return 0, 0
    cosine = np.einsum("ij,ij->i", query_ab[coloured], candidate_ab[coloured]) / (
        query_chroma[coloured] * candidate_chroma[coloured]
    )
    same = cosine >= np.cos(np.radians(SAME_HUE_DEGREES))
    return int(coloured.sum()), int(same.sum())


def print_match(
    query_thumbnail: Image,
    query_size: tuple[int, int],
    candidate_thumbnail: Image,
    candidate_size: tuple[int, int],
    query_points: FloatArray,
    candidate_points: FloatArray,
) -> PrintMatch:
    """The colour agreement of one verified match (inlier pairs row for row)."""
    coloured, same = colour_pairs(
        query_thumbnail, query_size, candidate_thumbnail, candidate_size, query_points, candidate_points
    )
    return PrintMatch(
        inliers=len(candidate_points),
        coloured_pairs=coloured,
        same_colour_pairs=same,
    )
