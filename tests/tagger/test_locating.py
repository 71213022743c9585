"""Located products as tracker detections (confidence, merging with the detector's boxes, when to
look) and which placements a catalog explains."""

from __future__ import annotations

import numpy as np
import pytest

from tagger.detections import Detections
from tagger.linking.index import CatalogIndex, build_catalog_index
from tagger.linking.linker import Decision, LinkResult, SkuCandidate
from tagger.linking.locate import LocateConfig, Located
from tagger.locating import (
    LocateSchedule,
    ShotLocator,
    as_detections,
    detection_confidence,
    explained,
    merged,
)
from tagger.placements import Keyframe, Placement
from tests.tagger.linking.factories import catalog, extractor
from tests.tagger.linking.test_locate import _holding, _shelf


def test_confidence_starts_a_track_at_the_bar_and_grows_with_support() -> None:
    assert detection_confidence(12, 12) == 0.5
    assert detection_confidence(12, 12) < detection_confidence(30, 12) < detection_confidence(60, 12)
    assert detection_confidence(36, 12) == 0.75
    assert detection_confidence(10_000, 12) < 1.0


def test_located_products_are_detections_of_the_product_class() -> None:
    found = [Located(3, "SKU-3", 24, (10.0, 20.0, 110.0, 220.0))]

    detections = as_detections(found, class_id=80, min_inliers=12)

    assert detections.xyxy.tolist() == [[10.0, 20.0, 110.0, 220.0]]
    assert detections.class_id.tolist() == [80]
    assert detections.confidence.tolist() == [pytest.approx(2 / 3)]
    assert len(as_detections([], class_id=80, min_inliers=12)) == 0


def test_a_detector_box_on_a_located_product_gives_way_to_it() -> None:
    general = Detections(
        xyxy=np.array([[12, 25, 108, 215], [300, 300, 400, 400]], np.float32),
        confidence=np.array([0.6, 0.5], np.float32),
        class_id=np.array([39, 41]),
    )
    located = as_detections([Located(3, "SKU-3", 24, (10.0, 20.0, 110.0, 220.0))], 80, 12)

    both = merged(general, located)

    assert both.class_id.tolist() == [41, 80]
    assert merged(general, Detections.empty()) is general
    assert merged(Detections.empty(), located) is located


@pytest.fixture(scope="module")
def index() -> CatalogIndex:
    return build_catalog_index(catalog(6), extractor())


def test_a_shot_is_searched_at_its_start_then_its_product_followed(index: CatalogIndex) -> None:
    frame, _ = _holding(2, scale=1.6, angle=15.0, centre=(280, 500))
    locator = ShotLocator(index, 80, LocateConfig(), LocateSchedule(retry_ms=1000, follow_ms=600))

    first = locator.detect(frame, 0)
    between = locator.detect(frame, 300)
    followed = locator.detect(frame, 700)

    assert first.class_id.tolist() == [80]
    assert len(between) == 0
    assert len(followed) == 1
    assert locator.looks == 2  # one full look, one look around the found box
    locator.reset()
    assert len(locator.detect(frame, 800)) == 1
    assert locator.looks == 3


def test_a_shot_without_products_is_searched_again_only_after_the_retry_interval(index: CatalogIndex) -> None:
    locator = ShotLocator(index, 80, LocateConfig(), LocateSchedule(retry_ms=1000, follow_ms=600))

    for t_ms in (0, 400, 800, 1000, 1400):
        assert len(locator.detect(_shelf(5), t_ms)) == 0

    assert locator.looks == 2


def _placement(label: str, decision: Decision | None) -> Placement:
    link = (
        None
        if decision is None
        else LinkResult(
            candidates=(SkuCandidate("SKU-1", "Product 1", 0.2),),
            sku=None if decision is Decision.UNKNOWN else "SKU-1",
            confidence=0.2,
            unknown_probability=0.8,
            decision=decision,
            index_version="v",
            crops_used=1,
        )
    )
    return Placement(
        id=f"{label}-{decision}",
        label=label,
        confidence=0.6,
        start_ms=0,
        end_ms=1000,
        start_frame=0,
        end_frame=30,
        keyframes=(Keyframe(0, (0.1, 0.1, 0.2, 0.2)),),
        thumbnail=None,
        crops=(),
        shot=1,
        link=link,
    )


def test_placements_no_sku_explains_are_dropped_unless_found_by_their_print() -> None:
    proposed = _placement("bottle", Decision.PROPOSED)
    approved = _placement("cup", Decision.APPROVED)
    clutter = _placement("teddy bear", Decision.UNKNOWN)
    unlinked = _placement("bottle", None)
    located_unsure = _placement("product", Decision.UNKNOWN)

    kept = explained([proposed, approved, clutter, unlinked, located_unsure], keep_labels=("product",))

    assert kept == (proposed, approved, located_unsure)
    assert explained([clutter, located_unsure]) == ()


def test_between_looks_a_detector_box_on_a_followed_product_is_dropped(index: CatalogIndex) -> None:
    frame, truth = _holding(2, scale=1.6, angle=15.0, centre=(280, 500))
    locator = ShotLocator(index, 80, LocateConfig(), LocateSchedule(retry_ms=1000, follow_ms=600))
    on_it = Detections(np.array([truth], np.float32), np.array([0.7], np.float32), np.array([39]))
    elsewhere = Detections(
        np.array([[0, 0, 50, 50]], np.float32), np.array([0.7], np.float32), np.array([41])
    )

    first = locator.proposals(on_it, frame, 0, starts_shot=True)
    between = locator.proposals(merged(on_it, elsewhere), frame, 300, starts_shot=False)
    next_shot = locator.proposals(on_it, _shelf(5), 400, starts_shot=True)

    assert first.class_id.tolist() == [80]
    assert between.class_id.tolist() == [41]
    assert next_shot.class_id.tolist() == [39]
