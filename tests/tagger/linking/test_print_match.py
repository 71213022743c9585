"""Where and in what colours a packshot's print matched: the evidence that tells siblings apart."""

from __future__ import annotations

import numpy as np
import pytest

from tagger.linking.print_match import (
    MIN_COLOURED_PAIRS,
    PrintMatch,
    colour_pairs,
    print_match,
)

RED, GREEN, ORANGE, WHITE, GREY = (40, 40, 200), (60, 170, 40), (30, 120, 230), (255, 255, 255), (90, 90, 90)


def flat(colour: tuple[int, int, int], side: int = 64) -> np.ndarray:
    return np.full((side, side, 3), colour, dtype=np.uint8)


def points(count: int, side: float = 100.0) -> np.ndarray:
    rng = np.random.default_rng(count)
    return rng.uniform(0, side, size=(count, 2)).astype(np.float32)


@pytest.mark.parametrize(
    ("query", "candidate", "expected"),
    [
        (RED, RED, (10, 10)),  # the same ink
        (ORANGE, RED, (10, 10)),  # the same ink under warmer light: within the hue tolerance
        (GREEN, RED, (10, 0)),  # a sibling printed in another colour
        (WHITE, RED, (0, 0)),  # white card or black text has no hue to compare
        (RED, GREY, (0, 0)),
    ],
)
def test_inlier_pairs_are_compared_by_hue_where_both_sides_are_coloured(
    query: tuple[int, int, int], candidate: tuple[int, int, int], expected: tuple[int, int]
) -> None:
    pairs = points(10)
    assert colour_pairs(flat(query, 192), (100, 100), flat(candidate), (100, 100), pairs, pairs) == expected


def test_hues_are_read_where_the_points_are_in_each_image() -> None:
    # Query 200x400 (height x width) squeezed to a 192 square; its right half is green.
    query = flat(RED, 192)
    query[:, 96:] = GREEN
    candidate = flat(GREEN)
    left = np.array([[50.0, 100.0]] * 6, dtype=np.float32)
    right = np.array([[350.0, 100.0]] * 6, dtype=np.float32)
    on_candidate = np.array([[30.0, 30.0]] * 6, dtype=np.float32)

    assert colour_pairs(query, (200, 400), candidate, (60, 60), left, on_candidate) == (6, 0)
    assert colour_pairs(query, (200, 400), candidate, (60, 60), right, on_candidate) == (6, 6)


def test_colour_agreement_is_only_claimed_with_enough_coloured_pairs() -> None:
    few = PrintMatch(inliers=40, coloured_pairs=MIN_COLOURED_PAIRS - 1, same_colour_pairs=0)
    enough = PrintMatch(inliers=40, coloured_pairs=MIN_COLOURED_PAIRS * 2, same_colour_pairs=1)
    assert few.colour_agreement is None
    assert enough.colour_agreement == pytest.approx(0.1)


def test_a_match_is_measured_on_its_inlier_pairs() -> None:
    pairs = points(12)
    match = print_match(flat(GREEN, 192), (100, 100), flat(RED), (100, 100), pairs, pairs)
    assert match == PrintMatch(inliers=12, coloured_pairs=12, same_colour_pairs=0)
    assert match.colour_agreement == 0.0
