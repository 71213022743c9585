"""Aligned colour comparison under a verified homography: same package agrees, a recoloured sibling not."""

from __future__ import annotations

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
