"""Bad catalog images become reasons, not crashes; huge ones are scaled down."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tagger.linking.aligned import CATALOG_THUMBNAIL_PX, thumbnail
from tagger.linking.images import (
    MAX_SIDE_PX,
    ImageProblem,
    border_pixels,
    check_image,
    decode_image,
    plain_border_share,
    plain_border_shares,
    read_image,
    shows_product_alone,
)
from tests.tagger.linking.factories import packshot, scene_around


def _png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def test_missing_file_is_a_problem_with_reason(tmp_path: Path) -> None:
    assert read_image(tmp_path / "nope.jpg") == ImageProblem(
        str(tmp_path / "nope.jpg"), "image file does not exist"
    )


def test_empty_and_garbage_bytes_are_problems() -> None:
    assert decode_image(b"", "a") == ImageProblem("a", "image file is empty")
    assert decode_image(b"definitely not a jpeg", "b") == ImageProblem(
        "b", "image cannot be decoded (not a JPEG/PNG/WebP or truncated)"
    )


def test_tiny_image_is_refused() -> None:
    tiny = np.zeros((20, 100, 3), dtype=np.uint8)

    assert decode_image(_png(tiny), "t") == ImageProblem(
        "t", "image is too small (100x20 px; need ≥ 32 px a side)"
    )


def test_huge_image_is_scaled_to_the_limit_keeping_aspect() -> None:
    huge = np.zeros((2000, 4000, 3), dtype=np.uint8)

    result = check_image(huge, "h")

    assert isinstance(result, np.ndarray)
    assert result.shape == (MAX_SIDE_PX // 2, MAX_SIDE_PX, 3)


def test_grey_and_bgra_are_promoted_to_bgr() -> None:
    grey = np.full((40, 40), 7, dtype=np.uint8)
    bgra = np.full((40, 40, 4), 9, dtype=np.uint8)

    grey_result = check_image(grey, "g")
    bgra_result = check_image(bgra, "a")

    assert isinstance(grey_result, np.ndarray)
    assert isinstance(bgra_result, np.ndarray)
    assert (grey_result.shape, bgra_result.shape) == ((40, 40, 3), (40, 40, 3))


def test_float_image_is_a_problem() -> None:
    assert check_image(np.zeros((40, 40, 3), dtype=np.float32), "f") == ImageProblem(
        "f", "image must be uint8, got float32"
    )


@pytest.mark.parametrize("background", [(255, 255, 255), (170, 170, 170), (0, 0, 0)])
def test_a_product_on_any_plain_background_is_a_packshot(background: tuple[int, int, int]) -> None:
    # White, a studio grey, or the black a transparent PNG decodes to without its alpha channel.
    image = packshot(2)
    image[np.all(image == 255, axis=2)] = background

    assert shows_product_alone(thumbnail(image, CATALOG_THUMBNAIL_PX))


def test_a_product_in_a_scene_is_not_a_packshot() -> None:
    for seed in range(5):
        assert not shows_product_alone(thumbnail(scene_around(packshot(2), seed), CATALOG_THUMBNAIL_PX))
    assert not shows_product_alone(np.zeros((0, 0, 3), np.uint8))


def test_border_shares_of_many_thumbnails_at_once_are_each_ones_own() -> None:
    grey = packshot(3)
    grey[np.all(grey == 255, axis=2)] = (170, 170, 170)
    images = [packshot(1), grey, scene_around(packshot(2), 0), scene_around(packshot(4), 1)]
    thumbnails = [thumbnail(image, CATALOG_THUMBNAIL_PX) for image in images]

    shares = plain_border_shares(np.stack([border_pixels(thumb) for thumb in thumbnails]))

    assert shares.tolist() == [plain_border_share(thumb) for thumb in thumbnails]
    assert shares[0] == shares[1] == 1.0
    assert max(shares[2:]) < 0.45
    assert plain_border_shares(np.zeros((0, 252, 3), np.uint8)).shape == (0,)
