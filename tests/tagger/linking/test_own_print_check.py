"""Checking a product's own-print marks against the catalog: boxes over print a sibling shares, or over a
panel too plain to confirm anything, are found before an episode is tagged."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tagger.arrays import Image
from tagger.linking.catalog import CatalogItem
from tagger.linking.index import CatalogIndex, build_catalog_index
from tagger.linking.linker import OWN_PRINT_CONFIRMING_INLIERS, OWN_PRINT_INLIERS
from tagger.linking.own_print_check import OwnPrintCheckError, check_own_print
from tests.tagger.linking.factories import extractor, packshot

# The family's carton (packshot pixels 40..160 x 10..190): the top half differs between the two siblings
# (each its own flavour picture), the bottom half is the family's shared card.
OWN_PICTURE = (0.22, 0.07, 0.78, 0.45)
SHARED_CARD = (0.22, 0.55, 0.78, 0.93)
WHITE_MARGIN = (0.0, 0.1, 0.15, 0.9)


def _blobs(image: Image, seed: int, top: int, bottom: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(16):
        centre = (int(rng.integers(50, 150)), int(rng.integers(top + 5, bottom - 5)))
        colour = tuple(int(c) for c in rng.integers(0, 255, size=3))
        cv2.circle(image, centre, int(rng.integers(3, 9)), colour, thickness=-1)


def _sibling(flavour_seed: int) -> Image:
    """One carton of the family: its own flavour picture on top, the family's card below."""
    image = np.full((200, 200, 3), 255, dtype=np.uint8)
    cv2.rectangle(image, (40, 10), (160, 190), (60, 140, 200), thickness=-1)
    _blobs(image, flavour_seed, 14, 90)
    _blobs(image, 7, 110, 186)
    cv2.putText(image, "YOGGI", (52, 105), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    return image


@pytest.fixture(scope="module")
def index() -> CatalogIndex:
    items = [
        CatalogItem("YOG-S", "Yoggi Strawberry", "Yoggi", "", (_sibling(101),)),
        CatalogItem("YOG-V", "Yoggi Vanilla", "Yoggi", "", (_sibling(202),)),
        CatalogItem("TEA-1", "Green Tea", "Leaf", "", (packshot(5),)),
    ]
    return build_catalog_index(items, extractor())


def _digest(index: CatalogIndex, sku: str) -> str:
    (product,) = [product for product in index.products if product.sku == sku]
    return product.image_digests[0]


def test_marks_over_the_products_own_picture_pass(index: CatalogIndex) -> None:
    check = check_own_print(index, "YOG-S", _digest(index, "YOG-S"), [OWN_PICTURE])

    assert check.ok
    assert check.keypoints[0] >= OWN_PRINT_CONFIRMING_INLIERS
    assert (check.shared, check.problems(), check.compared) == ((), [], 2)


def test_marks_over_the_card_siblings_share_name_the_sibling_and_where(index: CatalogIndex) -> None:
    check = check_own_print(index, "YOG-S", _digest(index, "YOG-S"), [OWN_PICTURE, SHARED_CARD])

    (shared,) = check.shared
    assert (shared.sku, shared.title) == ("YOG-V", "Yoggi Vanilla")
    assert shared.inliers >= OWN_PRINT_INLIERS
    assert shared.per_box[0] < OWN_PRINT_INLIERS <= shared.per_box[1]  # the card, not the picture
    assert len(shared.points) == shared.inliers
    x0, y0, x1, y1 = SHARED_CARD
    assert sum(x0 <= x <= x1 and y0 <= y <= y1 for x, y in shared.points) == shared.per_box[1]
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


def test_an_image_the_index_does_not_hold_cannot_be_checked(index: CatalogIndex) -> None:
    with pytest.raises(OwnPrintCheckError, match="not in the catalog index yet"):
        check_own_print(index, "YOG-S", "0" * 64, [OWN_PICTURE])


def test_boxes_that_cannot_be_are_refused_before_any_work(index: CatalogIndex) -> None:
    with pytest.raises(ValueError, match="box 1"):
        check_own_print(index, "YOG-S", _digest(index, "YOG-S"), [(0.5, 0.5, 0.4, 0.9)])
