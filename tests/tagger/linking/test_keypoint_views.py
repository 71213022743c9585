"""Geometric verification counts one view of a print: a homography that collapses several copies of
the print onto one place, mirrors it, or puts its inliers behind the camera is no view."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tagger.linking.keypoints import (
    MAX_FORESHORTENING,
    LocalFeatures,
    extract_local_features,
    plausible_view,
    verify,
)
from tests.tagger.linking.factories import packshot

POINTS = np.array([[10.0, 10.0], [200.0, 20.0], [190.0, 300.0], [20.0, 280.0], [100.0, 150.0]])


def _strip_print(seed: int = 0) -> tuple[np.ndarray, np.ndarray, LocalFeatures]:
    """A catalog image whose matched print is a narrow vertical band (a brand's name printed down the
    side of a carton): 30 keypoints at x 95-105, and 40 others elsewhere that nothing matches."""
    rng = np.random.default_rng(seed)
    band = np.stack([rng.uniform(95, 105, 30), rng.uniform(20, 180, 30)], axis=1).astype(np.float32)
    descriptors = np.sqrt(rng.dirichlet(np.ones(128), size=70)).astype(np.float32)  # RootSIFT-like
    others = rng.uniform(0, 200, (40, 2)).astype(np.float32)
    return band, descriptors[:30], LocalFeatures(np.concatenate([band, others]), descriptors)


@pytest.mark.parametrize("copies", [1, 2, 3, 5])
def test_copies_of_a_print_side_by_side_count_as_one_view(copies: int) -> None:
    # Given a crop of `copies` cartons in a row (each 1.5x the packshot, a carton's width apart)
    band, descriptors, catalog_image = _strip_print()
    query = LocalFeatures(
        np.concatenate([band * 1.5 + [copy * 195.0, 0.0] for copy in range(copies)]).astype(np.float32),
        np.concatenate([descriptors] * copies),
    )

    outcome = verify(query, catalog_image)

    # Then the inliers are one carton's, not every carton's collapsed onto the band
    assert outcome.inliers == 30
    assert outcome.homography is not None
    assert np.ptp(outcome.query_points[:, 0]) < 195.0
    assert plausible_view(outcome.homography, outcome.query_points.astype(np.float64))


@pytest.mark.parametrize("seed", range(6))
def test_a_shelf_of_many_cartons_counts_one_carton(seed: int) -> None:
    """Six and ten cartons side by side: a similarity that shrinks them all onto one spot takes a few
    matches of every carton, more than one carton's; counted in distinct catalog keypoints, one carton's
    similarity wins, and the homography refitted near it is one carton's view."""
    shot = packshot(seed)
    catalog_image = extract_local_features(shot, upscale_to=400, max_features=800)
    carton = shot[:, 40:160]
    for copies in (6, 10):
        shelf = extract_local_features(
            np.concatenate([carton] * copies, axis=1), upscale_to=400, max_features=800
        )

        outcome = verify(shelf, catalog_image)

        assert outcome.inliers >= 20, (copies, outcome.inliers)
        assert np.ptp(outcome.query_points[:, 0]) < carton.shape[1]  # inside one carton


def test_a_print_seen_at_an_angle_is_still_a_view() -> None:
    shot = packshot(3)
    # The carton turned away, its near edge taller than its far one: foreshortened by about 1.8 where
    # the print matched, about as much as SIFT still matches (turned further, nothing matches at all)
    corners = np.array([[0, 0], [200, 0], [200, 200], [0, 200]], dtype=np.float32)
    turned = np.array([[60, 10], [140, 40], [140, 160], [60, 190]], dtype=np.float32)
    view = np.asarray(
        cv2.warpPerspective(
            cv2.resize(shot, None, fx=2, fy=2),
            cv2.getPerspectiveTransform(corners * 2, turned * 2),
            (400, 400),
            borderValue=(120, 120, 120),
        ),
        dtype=np.uint8,
    )
    catalog_image = extract_local_features(shot, upscale_to=400, max_features=300)
    seen = extract_local_features(view, upscale_to=400, max_features=300)

    assert verify(seen, catalog_image).inliers >= 10


def test_a_plausible_view_is_upright_in_front_and_not_squeezed() -> None:
    assert plausible_view(np.eye(3), POINTS)
    assert plausible_view(np.diag([0.3, 0.3, 1.0]), POINTS)  # smaller, not squeezed
    foreshortened = np.diag([1.0 / (0.9 * MAX_FORESHORTENING), 1.0, 1.0])
    assert plausible_view(foreshortened, POINTS)
    collapsed = np.diag([1.0 / (1.5 * MAX_FORESHORTENING), 1.0, 1.0])
    assert not plausible_view(collapsed, POINTS)
    assert not plausible_view(np.diag([-1.0, 1.0, 1.0]), POINTS)  # mirrored
    # The projective denominator changes sign between the inliers: some are behind the camera
    horizon = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-0.01, 0.0, 1.0]])
    assert not plausible_view(horizon, POINTS)
    assert not plausible_view(np.eye(3), np.zeros((0, 2)))
