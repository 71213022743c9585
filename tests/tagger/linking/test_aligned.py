"""Aligned colour comparison under a verified homography: same package agrees, a recoloured sibling not."""

from __future__ import annotations

import cv2
import numpy as np

from tagger.linking.aligned import aligned_similarity, thumbnail
from tagger.linking.keypoints import extract_local_features, verify
from tests.tagger.linking.factories import packshot, photo_of


def _similarity_of(photo: np.ndarray, shot: np.ndarray) -> float:
    outcome = verify(
        extract_local_features(photo, upscale_to=400, max_features=300),
        extract_local_features(shot, upscale_to=400, max_features=300),
    )
    assert outcome.homography is not None
    return aligned_similarity(
        thumbnail(photo, 192), photo.shape[:2], thumbnail(shot, 64), shot.shape[:2], outcome.homography
    )


def test_same_package_agrees_and_a_recoloured_sibling_does_not() -> None:
    shot = packshot(3)
    sibling = np.ascontiguousarray(shot[:, :, [1, 2, 0]])  # same print geometry, colours rotated
    photo = photo_of(shot)

    same = _similarity_of(photo, shot)
    other = _similarity_of(photo, sibling)

    assert same > 0.5
    assert other < 0.5 * same


def test_degenerate_homography_gives_zero() -> None:
    shot = packshot(1)

    assert (
        aligned_similarity(
            thumbnail(shot, 192), (200, 200), thumbnail(shot, 64), (200, 200), np.zeros((3, 3))
        )
        == 0.0
    )


def test_a_singular_homography_from_usac_gives_zero_instead_of_crashing_the_warp() -> None:
    # Returned by USAC for a grocery-dev detector crop: rank 2, so OpenCV's own inverse is infinite and
    # its bilinear warp segfaulted the linking process.
    homography = np.array(
        [
            [0.09969651145978316, -0.5001771625153849, 40.570619498081854],
            [0.041109254245164525, -0.20875994614300866, 16.845710947747943],
            [0.0024554267355169886, -0.012335806976903136, 1.0],
        ]
    )
    shot = packshot(2)

    query, candidate = thumbnail(shot, 192), thumbnail(shot, 64)

    assert aligned_similarity(query, (192, 192), candidate, (64, 64), homography) == 0.0


def test_a_crop_of_part_of_the_pack_at_an_angle_is_compared_where_it_shows_the_pack() -> None:
    shot = packshot(3)
    sibling = np.ascontiguousarray(shot[:, :, [1, 2, 0]])
    # The camera sees most of the pack at a steep angle: the map from the packshot to the crop has its
    # horizon at x = 180, inside the packshot, so the far side of it folds through infinity
    to_crop = np.array([[0.5, 0.0, 0.0], [0.0, 0.5, 50.0], [-1 / 180, 0.0, 1.0]])
    crop = np.asarray(cv2.warpPerspective(shot, to_crop, (200, 200), borderValue=(120, 120, 120)), np.uint8)
    crop_to_packshot = np.linalg.inv(to_crop)

    def compared_with(packshot_image: np.ndarray) -> float:
        return aligned_similarity(
            thumbnail(crop, 192), (200, 200), thumbnail(packshot_image, 64), (200, 200), crop_to_packshot
        )

    # Then the part it shows is compared (refusing every such map threw the evidence away), and only there
    same, other = compared_with(shot), compared_with(sibling)
    assert same > 0.5
    assert other < 0.5 * same


def test_a_homography_folding_most_of_the_packshot_through_infinity_compares_too_little() -> None:
    shot = packshot(2)
    # Sampling the crop for the packshot thumbnail meets w = 0 at x = 32: beyond it the map folds
    # through infinity, and before it little of the crop is seen
    folding = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1 / 32, 0.0, 1.0]])

    assert aligned_similarity(thumbnail(shot, 64), (64, 64), thumbnail(shot, 64), (64, 64), folding) == 0.0


def test_a_homography_compares_the_same_at_any_scale_and_sign() -> None:
    # A homography is defined up to scale: -H and 1e6 H are the same map (the horizon test uses the
    # sign at the crop's centre, not a fixed sign or size).
    shot = packshot(3)
    to_crop = np.array([[0.5, 0.0, 0.0], [0.0, 0.5, 50.0], [-1 / 180, 0.0, 1.0]])
    crop = np.asarray(cv2.warpPerspective(shot, to_crop, (200, 200), borderValue=(120, 120, 120)), np.uint8)
    homography = np.linalg.inv(to_crop)

    values = {
        aligned_similarity(
            thumbnail(crop, 192), (200, 200), thumbnail(shot, 64), (200, 200), factor * homography
        )
        for factor in (1.0, -1.0, 1e6, -1e-6)
    }

    assert len(values) == 1
    assert values.pop() > 0.5
