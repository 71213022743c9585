"""Finding catalog products in a frame by their print: boxes, geometry checks, the product in focus."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from tagger.arrays import Image
from tagger.detection.postprocess import box_iou
from tagger.linking.index import CatalogIndex, build_catalog_index
from tagger.linking.keypoints import LocalFeatures
from tagger.linking.locate import (
    LocateConfig,
    Located,
    box_overlap,
    is_convex,
    locate_products,
    plausible_box,
    print_corners,
    project_affine,
    suppress,
    visible_face,
)
from tests.tagger.linking.factories import catalog, extractor, packshot, scene_around

FRAME_W, FRAME_H = 540, 960


@pytest.fixture(scope="module")
def index() -> CatalogIndex:
    return build_catalog_index(catalog(6), extractor())


def _shelf(seed: int = 0) -> Image:
    """A busy, product-free background: noise and grey blobs (texture, but no catalog print)."""
    rng = np.random.default_rng(seed)
    frame = rng.normal(110, 12, size=(FRAME_H, FRAME_W, 3)).clip(0, 255).astype(np.uint8)
    for _ in range(60):
        centre = (int(rng.integers(0, FRAME_W)), int(rng.integers(0, FRAME_H)))
        grey = int(rng.integers(40, 200))
        cv2.circle(frame, centre, int(rng.integers(4, 30)), (grey, grey, grey), thickness=-1)
    return frame


def _holding(
    seed: int, *, scale: float, angle: float, centre: tuple[int, int]
) -> tuple[Image, tuple[float, ...]]:
    """A frame with catalog packshot `seed` held at `centre`, scaled and turned; and where its
    printed carton (packshot pixels 40..160 x 10..190) lands, as a box."""
    frame = _shelf(seed + 10)
    shot = packshot(seed)
    matrix = cv2.getRotationMatrix2D((100, 100), angle, scale)
    matrix = np.asarray(matrix, np.float64)
    matrix[:, 2] = matrix[:, 2] + np.array(centre, dtype=np.float64) - 100
    mask = cv2.warpAffine(np.full((200, 200), 255, np.uint8), matrix, (FRAME_W, FRAME_H))
    warped = cv2.warpAffine(shot, matrix, (FRAME_W, FRAME_H))
    frame[mask > 0] = warped[mask > 0]
    corners = np.array([[40, 10], [160, 10], [160, 190], [40, 190]], dtype=np.float64)
    placed = corners @ matrix[:, :2].T + matrix[:, 2]
    return frame, (*placed.min(axis=0), *placed.max(axis=0))


def test_a_held_product_is_found_with_its_sku_where_its_print_is(index: CatalogIndex) -> None:
    frame, truth = _holding(2, scale=1.6, angle=15.0, centre=(280, 500))

    found = locate_products(frame, index, LocateConfig())

    assert [item.sku for item in found] == ["SKU-2"]
    assert found[0].inliers >= LocateConfig().min_inliers
    assert box_iou(np.array([found[0].xyxy]), np.array([truth]))[0, 0] > 0.6


def test_a_frame_without_catalog_print_yields_nothing(index: CatalogIndex) -> None:
    assert locate_products(_shelf(3), index, LocateConfig()) == []


def test_following_looks_only_near_the_last_box_and_for_the_given_rows(index: CatalogIndex) -> None:
    frame, truth = _holding(4, scale=1.5, angle=-10.0, centre=(250, 450))
    row = index.skus.index("SKU-4")
    near = (truth[0] - 40, truth[1] - 40, truth[2] + 40, truth[3] + 40)
    elsewhere = (0.0, 800.0, 540.0, 960.0)

    assert [item.sku for item in locate_products(frame, index, LocateConfig(), rows=[row], region=near)] == [
        "SKU-4"
    ]
    assert locate_products(frame, index, LocateConfig(), rows=[row], region=elsewhere) == []
    assert locate_products(frame, index, LocateConfig(), rows=[index.skus.index("SKU-1")], region=near) == []


def test_print_corners_are_the_keypoints_bounding_box() -> None:
    local = LocalFeatures(
        np.array([[50, 20], [120, 180], [80, 60]], np.float32), np.zeros((3, 128), np.float32)
    )

    assert print_corners(local).tolist() == [[50, 20], [120, 20], [120, 180], [50, 180]]
    assert print_corners(LocalFeatures.empty()).shape == (0, 2)


def test_a_turned_print_becomes_the_box_around_it() -> None:
    turn = cv2.getRotationMatrix2D((0.0, 0.0), 30.0, 2.0)
    turn[:, 2] = (200.0, 300.0)
    square = np.array([[0, 0], [100, 0], [100, 100], [0, 100]], np.float64)
    quad = project_affine(np.asarray(turn, np.float64), square)

    assert quad is not None
    assert is_convex(quad)
    box = plausible_box(quad, (FRAME_H, FRAME_W, 3), LocateConfig())
    assert box is not None
    assert box == pytest.approx((*quad.min(axis=0), *quad.max(axis=0)))


def test_a_tilted_carton_held_close_is_judged_by_its_face_not_its_box() -> None:
    # Seen on the episode benchmark: a carton tilted ~40 degrees, its left corner off the frame.
    quad = np.array([[-23, 412], [190, 243], [529, 673], [316, 841]], np.float64)
    frame = FRAME_W * FRAME_H
    box = plausible_box(quad, (FRAME_H, FRAME_W, 3), LocateConfig())

    assert box is not None
    assert (box[2] - box[0]) * (box[3] - box[1]) > LocateConfig().max_area * frame  # the box is large...
    assert visible_face(quad, FRAME_W, FRAME_H) < 0.3 * frame  # ...the carton's face is not
    assert visible_face(np.array([[-100, 0], [100, 0], [100, 100], [-100, 100]], np.float64), 540, 960) == (
        pytest.approx(100 * 100)
    )


@pytest.mark.parametrize(
    "quad",
    [
        [[0, 0], [530, 0], [530, 950], [0, 950]],  # fills the frame: no product is that
        [[10, 10], [14, 10], [14, 14], [10, 14]],  # a speck
        [[400, 400], [900, 400], [900, 900], [400, 900]],  # mostly off-frame
        [[100, 100], [300, 300], [300, 100], [100, 300]],  # a bow-tie
    ],
)
def test_implausible_projections_are_refused(quad: list[list[float]]) -> None:
    assert plausible_box(np.array(quad, np.float64), (FRAME_H, FRAME_W, 3), LocateConfig()) is None


def test_siblings_inside_a_better_match_and_background_clutter_are_dropped() -> None:
    held = Located(0, "A", 60, (100.0, 200.0, 400.0, 700.0))
    sibling_panel = Located(1, "B", 45, (150.0, 250.0, 300.0, 500.0))
    shelf_item = Located(2, "C", 14, (420.0, 50.0, 530.0, 200.0))
    second_held = Located(3, "D", 40, (10.0, 720.0, 200.0, 950.0))

    kept = suppress([shelf_item, sibling_panel, held, second_held], LocateConfig())

    assert kept == [held, second_held]
    assert box_overlap(sibling_panel.xyxy, held.xyxy) == 1.0


def test_a_scene_in_the_catalog_does_not_locate_the_shelf_around_the_product() -> None:
    """SKU-2 also has a shop photo; the episode shows that shelf (a near-twin shot). Only the packshot
    says where the product's print is: the box is the carton, not the photo."""
    items = catalog(6)
    shop_photo = scene_around(packshot(2), seed=5)  # 400 x 400, the carton in its middle
    items[2] = replace(items[2], images=(*items[2].images, shop_photo))
    with_scene = build_catalog_index(items, extractor())
    frame = _shelf(7)
    left, top = 70, 280
    frame[top : top + 400, left : left + 400] = shop_photo
    carton = (left + 140.0, top + 110.0, left + 260.0, top + 290.0)

    found = locate_products(frame, with_scene, LocateConfig())

    assert [item.sku for item in found] == ["SKU-2"]
    assert box_iou(np.array([found[0].xyxy]), np.array([carton]))[0, 0] > 0.6
