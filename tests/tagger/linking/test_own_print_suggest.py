"""Own-print marks suggested from the brand's footage: boxes where the product's own pack, as its
placements show it, matches the packshot and no other product does."""

from __future__ import annotations

import numpy as np
import pytest

from tagger.linking.index import CatalogIndex
from tagger.linking.linker import OWN_PRINT_CONFIRMING_INLIERS, OWN_PRINT_INLIERS
from tagger.linking.own_print import points_inside
from tagger.linking.own_print_check import check_own_print, others_print_on
from tagger.linking.own_print_footage import matched_on_marked_image
from tagger.linking.own_print_suggest import FOREIGN_ALLOWED, suggest_marks
from tests.tagger.linking.factories import family_packshot, photo_of, yoggi_family_index

SIZE = (200, 200)


def _cluster(x: float, y: float, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (np.array([x, y]) + rng.uniform(-8, 8, size=(count, 2))).astype(np.float32)


def test_boxes_go_where_the_footage_matches_and_no_other_product_does() -> None:
    own_a, own_b = _cluster(50, 50, 30, 1), _cluster(150, 150, 30, 2)
    packshot_points = np.vstack([own_a, own_b, _cluster(150, 40, 30, 3)])
    # Two placements, each of one crop matching both clusters; a sibling prints cluster A
    own = [[np.vstack([own_a, own_b])], [np.vstack([own_a[:25], own_b[:25]])]]
    sibling = own_a.copy()

    suggestion = suggest_marks(SIZE, packshot_points, own, [sibling])

    assert suggestion.reason == ""
    assert suggestion.boxes
    assert points_inside(own_b, SIZE, suggestion.boxes) >= 25
    assert points_inside(sibling, SIZE, suggestion.boxes) <= FOREIGN_ALLOWED
    assert suggestion.foreign_inside <= FOREIGN_ALLOWED
    assert all(count >= OWN_PRINT_CONFIRMING_INLIERS for count in suggestion.own_inside)
    assert suggestion.packshot_keypoints >= OWN_PRINT_CONFIRMING_INLIERS
    # Boxes snap to the grid and stay inside the image
    assert all(0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1 for x0, y0, x1, y1 in suggestion.boxes)


def test_no_boxes_when_everything_the_footage_matches_another_product_prints_too() -> None:
    shared = _cluster(100, 100, 40, 4)
    suggestion = suggest_marks(SIZE, shared, [[shared], [shared[:30]]], [shared])

    assert suggestion.boxes == ()
    assert "another product's print" in suggestion.reason


def test_no_boxes_from_no_footage_and_none_that_pass_only_a_minority_of_placements() -> None:
    assert suggest_marks(SIZE, _cluster(50, 50, 30, 1), [], []).reason.startswith("no placement approved")
    # One placement matches a cluster of its own; two others match only what a sibling prints
    own_only = _cluster(50, 50, 30, 5)
    shared = _cluster(150, 150, 30, 6)
    own = [[own_only], [shared], [shared[:20]]]
    suggestion = suggest_marks(SIZE, np.vstack([own_only, shared]), own, [shared])
    assert suggestion.boxes == ()


@pytest.fixture(scope="module")
def index() -> CatalogIndex:
    return yoggi_family_index()


def test_on_a_family_the_suggestion_takes_the_flavour_picture_and_leaves_the_shared_card(
    index: CatalogIndex,
) -> None:
    digest = index.products[index.skus.index("YOG-S")].image_digests[0]
    marked = index.image_features[digest]
    own = [
        matched_on_marked_image(index, digest, [photo_of(family_packshot(101), seed)]) for seed in (1, 2, 3)
    ]
    vanilla = matched_on_marked_image(index, digest, [photo_of(family_packshot(202), 4)])

    suggestion = suggest_marks(
        marked.size, marked.local.points, own, [*others_print_on(index, "YOG-S", digest), *vanilla]
    )

    assert suggestion.boxes
    # Inside the strawberry picture (fractions 0.22-0.78 x 0.07-0.45, a grid cell of slack), off the card
    for x0, _, x1, y1 in suggestion.boxes:
        assert x0 >= 0.15
        assert x1 <= 0.85
        assert y1 <= 0.55
    assert min(suggestion.own_inside) >= OWN_PRINT_INLIERS
    # and the catalog check passes them: no other packshot prints what they hold
    check = check_own_print(index, "YOG-S", digest, suggestion.boxes)
    assert check.ok, check.problems()
