"""Checking a product's own-print marks against the catalog: boxes over print a sibling shares, or over a
panel too plain to confirm anything, are found before an episode is tagged."""

from __future__ import annotations

import pytest

from tagger.linking.catalog import CatalogItem
from tagger.linking.index import CatalogIndex, build_catalog_index
from tagger.linking.linker import OWN_PRINT_CONFIRMING_INLIERS, OWN_PRINT_INLIERS
from tagger.linking.own_print_check import MarksOnSceneError, OwnPrintCheckError, check_own_print
from tests.tagger.linking.factories import extractor, family_packshot, packshot, scene_around

# Where `family_packshot` puts each sibling's own flavour picture (the top of the carton) and the card all
# of them share (the bottom), and a white margin beside the carton.
OWN_PICTURE = (0.22, 0.07, 0.78, 0.45)
SHARED_CARD = (0.22, 0.55, 0.78, 0.93)
WHITE_MARGIN = (0.0, 0.1, 0.15, 0.9)


@pytest.fixture(scope="module")
def index() -> CatalogIndex:
    items = [
        CatalogItem("YOG-S", "Yoggi Strawberry", "Yoggi", "", (family_packshot(101),)),
        CatalogItem("YOG-V", "Yoggi Vanilla", "Yoggi", "", (family_packshot(202),)),
        CatalogItem("TEA-1", "Green Tea", "Leaf", "", (packshot(5),)),
        CatalogItem("TEA-2", "Green Tea in the shop", "Leaf", "", (scene_around(packshot(6)),)),
    ]
    return build_catalog_index(items, extractor())


def _digest(index: CatalogIndex, sku: str) -> str:
    (product,) = [product for product in index.products if product.sku == sku]
    return product.image_digests[0]


def test_marks_over_the_products_own_picture_pass(index: CatalogIndex) -> None:
    check = check_own_print(index, "YOG-S", _digest(index, "YOG-S"), [OWN_PICTURE])

    assert check.ok
    assert check.keypoints[0] >= OWN_PRINT_CONFIRMING_INLIERS
    assert (check.shared, check.problems(), check.compared) == ((), [], 3)


def test_marks_over_the_card_siblings_share_name_the_sibling_and_where(index: CatalogIndex) -> None:
    check = check_own_print(index, "YOG-S", _digest(index, "YOG-S"), [OWN_PICTURE, SHARED_CARD])

    (shared,) = check.shared
    assert (shared.sku, shared.title) == ("YOG-V", "Yoggi Vanilla")
    assert shared.inliers >= OWN_PRINT_INLIERS
    assert shared.per_box[0] < OWN_PRINT_INLIERS <= shared.per_box[1]  # the card, not the picture
    # Where: each place once (SIFT gives a place a keypoint per orientation; approval counts each), the
    # card's places inside the card's box
    assert 0 < len(shared.points) <= shared.inliers
    x0, y0, x1, y1 = SHARED_CARD
    assert 0 < sum(x0 <= x <= x1 and y0 <= y <= y1 for x, y in shared.points) <= shared.per_box[1]
    (problem,) = check.problems()
    assert problem.startswith(
        f"Yoggi Vanilla (YOG-V) matches {shared.inliers} keypoints inside them ({shared.per_box[1]} in box 2"
    )
    assert not check.ok


def test_marks_on_a_plain_panel_cannot_confirm_the_product(index: CatalogIndex) -> None:
    check = check_own_print(index, "YOG-S", _digest(index, "YOG-S"), [WHITE_MARGIN])

    assert check.total_keypoints < OWN_PRINT_CONFIRMING_INLIERS
    assert not check.can_confirm
    assert check.compared == 0  # no print in the box: nothing to compare
    (problem,) = check.problems()
    assert problem.startswith(f"the boxes hold {check.total_keypoints} keypoints")


def test_overlapping_boxes_count_a_keypoint_once_as_approval_does(index: CatalogIndex) -> None:
    small = (0.25, 0.10, 0.35, 0.25)  # a few of the flavour picture's keypoints

    check = check_own_print(index, "YOG-S", _digest(index, "YOG-S"), [small] * 3)

    assert 0 < check.total_keypoints < OWN_PRINT_CONFIRMING_INLIERS <= 3 * check.total_keypoints
    assert check.keypoints == (check.total_keypoints,) * 3
    assert not check.can_confirm


def test_an_image_the_index_does_not_hold_cannot_be_checked(index: CatalogIndex) -> None:
    with pytest.raises(OwnPrintCheckError, match="not in the catalog index yet"):
        check_own_print(index, "YOG-S", "0" * 64, [OWN_PICTURE])


def test_marks_on_a_scene_are_refused_they_could_never_approve(index: CatalogIndex) -> None:
    with pytest.raises(MarksOnSceneError, match="not a packshot of the product alone"):
        check_own_print(index, "TEA-2", _digest(index, "TEA-2"), [OWN_PICTURE])


def test_boxes_that_cannot_be_are_refused_before_any_work(index: CatalogIndex) -> None:
    with pytest.raises(ValueError, match="box 1"):
        check_own_print(index, "YOG-S", _digest(index, "YOG-S"), [(0.5, 0.5, 0.4, 0.9)])
