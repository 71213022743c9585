"""Located products as tracker detections (confidence, merging with the detector's boxes, when to
look) and which placements a catalog explains."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import tagger.locating as locating
from tagger.detection.postprocess import box_iou
from tagger.detections import Detections
from tagger.linking.decision import Decision
from tagger.linking.index import CatalogIndex, build_catalog_index
from tagger.linking.linker import LinkResult, SkuCandidate
from tagger.linking.locate import LocateConfig, Located, locate_products
from tagger.locating import (
    LocatedFrame,
    LocateSchedule,
    ShotLocator,
    as_detections,
    away_from,
    blanked,
    box_at,
    detection_confidence,
    explained,
    locator_for,
    outside_change,
    shift,
    widened_box,
    without_doubles,
)
from tagger.placements import Keyframe, Placement
from tagger.settings import TaggerSettings
from tests.tagger.linking.factories import catalog, extractor
from tests.tagger.linking.test_locate import _holding, _shelf


def test_confidence_is_one_half_at_the_bar_and_grows_with_support() -> None:
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

    kept = away_from(general, [(10.0, 20.0, 110.0, 220.0)])

    assert kept.class_id.tolist() == [41]
    assert away_from(general, []) is general
    assert len(away_from(Detections.empty(), [(10.0, 20.0, 110.0, 220.0)])) == 0


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
    # The product is its own track, kept while it is followed; a new shot starts a new one.
    assert first.tracker_id is not None
    assert followed.tracker_id is not None
    assert followed.tracker_id.tolist() == first.tracker_id.tolist()
    assert first.tracker_id.tolist()[0] < 0  # never one of the tracker's ids
    locator.reset()
    again = locator.detect(frame, 800)
    assert again.tracker_id is not None
    assert again.tracker_id.tolist()[0] not in first.tracker_id.tolist()
    assert locator.looks == 3


def test_a_followed_product_carried_past_the_margin_is_searched_for_in_the_whole_frame(
    index: CatalogIndex,
) -> None:
    picked_up, _ = _holding(2, scale=1.6, angle=15.0, centre=(280, 700))
    lifted, lifted_box = _holding(2, scale=1.6, angle=15.0, centre=(280, 250))
    locator = ShotLocator(index, 80, LocateConfig(), LocateSchedule(retry_ms=1000, follow_ms=600))

    first = locator.detect(picked_up, 0)
    followed = locator.detect(lifted, 600)
    looks_to_follow = locator.looks
    gone = locator.detect(_shelf(5), 1200)

    assert first.tracker_id is not None
    assert followed.tracker_id is not None
    assert followed.tracker_id.tolist() == first.tracker_id.tolist()  # the same track, not a new one
    assert box_iou(followed.xyxy, np.array([lifted_box], np.float32))[0, 0] > 0.6
    assert looks_to_follow == 3  # the full look; around its last box, then the whole frame for its SKU
    assert len(gone) == 0
    assert locator.looks == 5
    assert locator.held_until(1500) == {}  # a look saw it leave: nothing to hold


def test_a_product_still_followed_when_its_shot_ends_is_held_until_its_next_look_or_the_end(
    index: CatalogIndex,
) -> None:
    frame, _ = _holding(2, scale=1.6, angle=15.0, centre=(280, 500))
    locator = ShotLocator(index, 80, LocateConfig(), LocateSchedule(retry_ms=1000, follow_ms=600))
    assert locator.held_until(500) == {}  # nothing looked at yet

    found = locator.detect(frame, 0)
    locator.detect(frame, 700)

    assert found.tracker_id is not None
    (track_id,) = found.tracker_id.tolist()
    assert locator.held_until(1000) == {track_id: 1000}  # the shot ended before the next look
    assert locator.held_until(2500) == {track_id: 1300}  # the next look was due at 1300
    locator.reset()
    assert locator.held_until(2500) == {}


def test_a_shot_without_products_is_searched_again_only_after_the_retry_interval(index: CatalogIndex) -> None:
    locator = ShotLocator(index, 80, LocateConfig(), LocateSchedule(retry_ms=1000, follow_ms=600))

    for t_ms in (0, 400, 800, 1000, 1400):
        assert len(locator.detect(_shelf(5), t_ms)) == 0

    assert locator.looks == 2


def _look_times(locator: ShotLocator, frame: np.ndarray, times: range) -> list[int]:
    looked = []
    for t_ms in times:
        before = locator.looks
        locator.detect(frame, t_ms)
        if locator.looks > before:
            looked.append(t_ms)
    return looked


def test_each_look_that_sees_nothing_doubles_the_wait_for_the_next_up_to_the_longest(
    index: CatalogIndex,
) -> None:
    schedule = LocateSchedule(retry_ms=1000, max_retry_ms=2000, follow_ms=600)
    locator = ShotLocator(index, 80, LocateConfig(), schedule)

    assert _look_times(locator, _shelf(5), range(0, 7200, 200)) == [0, 1000, 3000, 5000, 7000]


def test_a_longest_wait_of_one_retry_interval_searches_every_interval(index: CatalogIndex) -> None:
    schedule = LocateSchedule(retry_ms=1000, max_retry_ms=1000, follow_ms=600)
    locator = ShotLocator(index, 80, LocateConfig(), schedule)

    assert _look_times(locator, _shelf(5), range(0, 4200, 200)) == [0, 1000, 2000, 3000, 4000]


def test_a_change_or_a_cut_does_not_wait_out_a_longer_retry(index: CatalogIndex) -> None:
    holding, _ = _holding(2, scale=1.6, angle=15.0, centre=(280, 500))
    schedule = LocateSchedule(retry_ms=1000, max_retry_ms=4000, follow_ms=600, change_luma=28.0)
    locator = ShotLocator(index, 80, LocateConfig(), schedule)
    nothing = Detections.empty()

    locator.proposals(nothing, _shelf(5), 0, starts_shot=True)
    locator.proposals(nothing, _shelf(5), 1000, starts_shot=False)
    assert locator.retry_wait_ms() == 2000  # two looks in a row saw nothing
    entered = locator.proposals(nothing, holding, 1400, starts_shot=False, change=33.0)

    assert entered.located.class_id.tolist() == [80]
    assert locator.looks == 3
    # A new shot starts from the retry interval again.
    locator.proposals(nothing, _shelf(5), 2000, starts_shot=True)
    assert locator.retry_wait_ms() == 1000
    locator.proposals(nothing, _shelf(5), 3000, starts_shot=False)
    assert locator.looks == 5


def test_a_product_coming_into_view_is_searched_for_before_the_retry_is_due(index: CatalogIndex) -> None:
    # A product carried into the shot changes the picture; waiting for the retry would leave it
    # without a hotspot for up to a second.
    holding, _ = _holding(2, scale=1.6, angle=15.0, centre=(280, 500))
    schedule = LocateSchedule(retry_ms=1000, follow_ms=600, change_luma=28.0)
    locator = ShotLocator(index, 80, LocateConfig(), schedule)
    nothing = Detections.empty()

    first = locator.proposals(nothing, _shelf(5), 0, starts_shot=True)
    panned = locator.proposals(nothing, _shelf(5), 400, starts_shot=False, change=20.0)
    entered = locator.proposals(nothing, holding, 800, starts_shot=False, change=33.0)

    assert len(first.located) == 0
    assert len(panned.located) == 0
    assert locator.looks == 2  # the pan's small change brought no look forward
    assert entered.located.class_id.tolist() == [80]


def _changed_within(box: tuple[float, ...], level: int, shape: tuple[int, int] = (64, 36)) -> np.ndarray:
    """A tiny change map (rows x cols over the 540 x 960 test frame) that changed by `level` inside
    `box` (frame pixels) and nowhere else."""
    rows, cols = shape
    changed = np.zeros(shape, dtype=np.uint8)
    x1, y1, x2, y2 = (int(v) for v in box)
    changed[y1 * rows // 960 : y2 * rows // 960 + 1, x1 * cols // 540 : x2 * cols // 540 + 1] = level
    return changed


def _centres_y(frame: LocatedFrame) -> list[float]:
    return sorted(float(row[1] + row[3]) / 2 for row in frame.located.xyxy)


def test_a_change_on_the_followed_product_alone_brings_no_search(index: CatalogIndex) -> None:
    frame, box = _holding(2, scale=1.6, angle=15.0, centre=(280, 500))
    locator = ShotLocator(index, 80, LocateConfig(), LocateSchedule(retry_ms=1000, follow_ms=600))

    locator.proposals(Detections.empty(), frame, 0, starts_shot=True)
    # The held product moved: the picture changed a lot, but only where it is.
    locator.proposals(
        Detections.empty(), frame, 400, starts_shot=False, change=80.0, change_map=_changed_within(box, 200)
    )

    assert locator.looks == 1
    assert locator.newcomer_looks == 0


def test_a_second_product_carried_in_beside_a_followed_one_is_found_while_the_first_is_held(
    index: CatalogIndex,
) -> None:
    alone, _ = _holding(2, scale=1.3, angle=10.0, centre=(270, 230))
    below, _ = _holding(4, scale=1.2, angle=-8.0, centre=(270, 720))
    both = np.vstack([alone[:480], below[480:]])  # each product stays in its half of the frame
    locator = ShotLocator(index, 80, LocateConfig(), LocateSchedule(retry_ms=1000, follow_ms=600))
    lower_half = (0.0, 480.0, 540.0, 960.0)

    first = locator.proposals(Detections.empty(), alone, 0, starts_shot=True)
    joined = locator.proposals(
        Detections.empty(),
        both,
        400,
        starts_shot=False,
        change=40.0,
        change_map=_changed_within(lower_half, 80),
    )
    again = locator.proposals(Detections.empty(), both, 500, starts_shot=False, change=0.0)

    assert len(first.located) == 1
    assert _centres_y(first)[0] < 480
    # Found at once, beside the held one (looked at first), not when that one is lost; a track of its
    # own; both looked at again at the next sample (the second sighting a placement needs).
    centres = _centres_y(joined)
    assert len(centres) == 2
    assert centres[0] < 480 < centres[1]
    assert locator.newcomer_looks == 1
    assert first.located.tracker_id is not None
    assert joined.located.tracker_id is not None
    assert again.located.tracker_id is not None
    assert set(first.located.tracker_id.tolist()) < set(joined.located.tracker_id.tolist())
    assert sorted(again.located.tracker_id.tolist()) == sorted(joined.located.tracker_id.tolist())


def test_a_look_for_newcomers_searches_the_frame_with_the_followed_products_blanked(
    index: CatalogIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame, _ = _holding(2, scale=1.6, angle=15.0, centre=(280, 500))
    locator = ShotLocator(index, 80, LocateConfig(), LocateSchedule(retry_ms=1000, follow_ms=600))
    locator.proposals(Detections.empty(), frame, 0, starts_shot=True)
    (followed,) = locator._following.values()
    searched: list[np.ndarray] = []

    def spy(image: np.ndarray, *args: object, **kwargs: object) -> list[Located]:
        if kwargs.get("rows") is None and kwargs.get("region") is None:
            searched.append(image)
        return locate_products(image, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(locating, "locate_products", spy)
    # Something changed around it (a hand, the background); nothing new came in.
    away = locator.proposals(
        Detections.empty(),
        frame,
        400,
        starts_shot=False,
        change=40.0,
        change_map=np.full((64, 36), 60, np.uint8),
    )

    assert locator.newcomer_looks == 1
    assert len(away.located) == 1  # the followed product, looked at first, is still there
    (image,) = searched
    x1, y1, x2, y2 = (int(v) for v in widened_box(followed, 0.25))
    inside = image[max(y1, 0) + 1 : y2 - 1, max(x1, 0) + 1 : x2 - 1]
    assert np.all(inside == 128)  # its widened box is blanked...
    assert np.array_equal(image[: max(y1, 0)], frame[: max(y1, 0)])  # ...and nothing else


def test_a_followed_product_seen_to_move_at_the_look_brings_no_look_for_newcomers(
    index: CatalogIndex,
) -> None:
    # The change came when it still held still at its last look; looked at again, it has moved: the
    # change was its own.
    low, _ = _holding(2, scale=1.3, angle=10.0, centre=(270, 700))
    high, _ = _holding(2, scale=1.3, angle=10.0, centre=(270, 300))
    locator = ShotLocator(index, 80, LocateConfig(), LocateSchedule(retry_ms=1000, follow_ms=600))

    locator.proposals(Detections.empty(), low, 0, starts_shot=True)
    moved = locator.proposals(
        Detections.empty(),
        high,
        400,
        starts_shot=False,
        change=60.0,
        change_map=np.full((64, 36), 60, np.uint8),
    )

    assert len(moved.located) == 1
    assert locator.newcomer_looks == 0


def test_when_the_followed_products_are_gone_the_change_brings_a_whole_frame_look(
    index: CatalogIndex,
) -> None:
    held, _ = _holding(2, scale=1.6, angle=15.0, centre=(280, 500))
    other, _ = _holding(4, scale=1.5, angle=-10.0, centre=(250, 450))
    locator = ShotLocator(index, 80, LocateConfig(), LocateSchedule(retry_ms=1000, follow_ms=600))

    first = locator.proposals(Detections.empty(), held, 0, starts_shot=True)
    # Put down and another picked up in its place: its look finds it gone...
    gone = locator.proposals(
        Detections.empty(),
        other,
        400,
        starts_shot=False,
        change=60.0,
        change_map=np.full((64, 36), 60, np.uint8),
    )
    # ...and the next sample searches the whole frame, before the retry is due.
    replaced = locator.proposals(Detections.empty(), other, 533, starts_shot=False)

    assert len(first.located) == 1
    assert len(gone.located) == 0
    assert len(replaced.located) == 1
    assert locator.newcomer_looks == 0


def test_the_change_away_from_followed_products_is_measured_outside_their_boxes() -> None:
    changed = np.zeros((64, 36), np.uint8)
    changed[32:] = 100  # the lower half of a 540 x 960 frame changed

    assert outside_change(changed, [], (960, 540), 0.2) == pytest.approx(50.0)
    assert outside_change(changed, [(0.0, 0.0, 540.0, 480.0)], (960, 540), 0.2) == pytest.approx(100.0)
    assert outside_change(changed, [(0.0, 480.0, 540.0, 960.0)], (960, 540), 0.2) == 0.0
    # A product filling the frame leaves too little around it to judge.
    assert outside_change(changed, [(0.0, 0.0, 540.0, 900.0)], (960, 540), 0.2) == 0.0


def test_blanked_boxes_are_flat_grey_and_the_rest_is_untouched() -> None:
    image = np.random.default_rng(0).integers(0, 255, size=(100, 80, 3), dtype=np.uint8)

    flat = blanked(image, [(10.5, 20.0, 30.0, 40.0), (-5.0, 90.0, 200.0, 130.0)])

    assert np.all(flat[20:40, 10:30] == 128)
    assert np.all(flat[90:] == 128)
    assert np.array_equal(flat[:20], image[:20])
    assert not np.shares_memory(flat, image)


def _placement(label: str, decision: Decision | None, *, contradicted: bool = False) -> Placement:
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
            contradicted=contradicted,
        )
    )
    return Placement(
        id=f"{label}-{decision}-{contradicted}",
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


def test_unexplained_or_contradicted_placements_are_dropped_unless_found_by_their_print() -> None:
    proposed = _placement("bottle", Decision.PROPOSED)
    approved = _placement("cup", Decision.APPROVED)
    clutter = _placement("teddy bear", Decision.UNKNOWN)
    unlinked = _placement("bottle", None)
    located_unsure = _placement("product", Decision.UNKNOWN)
    another_variant = _placement("bottle", Decision.PROPOSED, contradicted=True)
    located_another_variant = _placement("product", Decision.PROPOSED, contradicted=True)

    kept = explained(
        [proposed, approved, clutter, unlinked, located_unsure, another_variant, located_another_variant],
        keep_labels=("product",),
    )

    assert kept == (proposed, approved, located_unsure, located_another_variant)
    assert explained([clutter, located_unsure, another_variant]) == ()


def test_a_detector_box_on_a_located_or_followed_product_is_not_tracked_twice(index: CatalogIndex) -> None:
    frame, truth = _holding(2, scale=1.6, angle=15.0, centre=(280, 500))
    locator = ShotLocator(index, 80, LocateConfig(), LocateSchedule(retry_ms=1000, follow_ms=600))
    on_it = Detections(np.array([truth], np.float32), np.array([0.7], np.float32), np.array([39]))
    elsewhere = Detections(
        np.array([[0, 0, 50, 50]], np.float32), np.array([0.7], np.float32), np.array([41])
    )
    both = Detections.concatenate([on_it, elsewhere])

    first = locator.proposals(both, frame, 0, starts_shot=True)
    between = locator.proposals(both, frame, 300, starts_shot=False)
    next_shot = locator.proposals(on_it, _shelf(5), 400, starts_shot=True)

    assert first.general.class_id.tolist() == [41]
    assert first.located.class_id.tolist() == [80]
    assert between.general.class_id.tolist() == [41]
    assert len(between.located) == 0  # not looked for between looks; the placement spans the gap
    assert next_shot.general.class_id.tolist() == [39]
    assert len(next_shot.located) == 0


class _ScriptedLooks:
    """Stands in for `locate_products`: each full look returns the next scripted list (filtered by
    the bar it is asked for), and records the bars asked for."""

    def __init__(self, *looks: list[Located]) -> None:
        self.looks = list(looks)
        self.bars: list[tuple[int | None, bool]] = []

    def __call__(
        self,
        image: object,
        index: object,
        config: LocateConfig,
        *,
        rows: list[int] | None = None,
        region: object = None,
        min_inliers: int | None = None,
    ) -> list[Located]:
        self.bars.append((min_inliers, rows is not None))
        found = self.looks.pop(0) if self.looks else []
        bar = config.min_inliers if min_inliers is None else min_inliers
        return [item for item in found if item.inliers >= bar and (rows is None or item.row in rows)]


def _weak(row: int, box: tuple[float, float, float, float], inliers: int = 10) -> Located:
    return Located(row, f"SKU-{row}", inliers, box)


def test_a_print_below_the_bar_is_found_only_when_the_next_sample_sees_it_at_the_same_place(
    index: CatalogIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = (100.0, 200.0, 400.0, 700.0)
    moved_a_little = (120.0, 210.0, 420.0, 720.0)
    looks = _ScriptedLooks([_weak(2, box)], [_weak(2, moved_a_little)], [_weak(2, moved_a_little, 9)])
    monkeypatch.setattr("tagger.locating.locate_products", looks)
    locator = ShotLocator(index, 80, LocateConfig(), LocateSchedule(retry_ms=1000, follow_ms=600))
    frame = np.zeros((960, 540, 3), np.uint8)

    first = locator.detect(frame, 0)
    second = locator.detect(frame, 200)  # the next sample looks around the candidate, for its SKU
    between = locator.detect(frame, 600)
    followed = locator.detect(frame, 800)

    assert len(first) == 0
    assert second.xyxy.tolist() == [list(moved_a_little)]
    assert second.confidence.tolist() == [0.5]  # at the bar, whatever the candidate had
    assert len(between) == 0  # found, it is followed every follow_ms
    assert len(followed) == 1  # followed at the lower bar: its SKU and place are known
    assert looks.bars == [(8, False), (8, True), (8, True)]


def test_a_change_seen_while_a_candidate_is_checked_still_brings_the_next_search_forward(
    index: CatalogIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sample where the picture changed went to confirming a candidate (which it did not): the
    # change is not forgotten, the next sample searches the whole frame before the retry is due.
    looks = _ScriptedLooks([_weak(2, (100.0, 200.0, 400.0, 700.0))], [], [])
    monkeypatch.setattr("tagger.locating.locate_products", looks)
    schedule = LocateSchedule(retry_ms=1000, follow_ms=600, change_luma=28.0)
    locator = ShotLocator(index, 80, LocateConfig(), schedule)
    frame = np.zeros((960, 540, 3), np.uint8)

    locator.proposals(Detections.empty(), frame, 0, starts_shot=True)
    locator.proposals(Detections.empty(), frame, 400, starts_shot=False, change=40.0)
    locator.proposals(Detections.empty(), frame, 800, starts_shot=False, change=3.0)
    locator.proposals(Detections.empty(), frame, 1200, starts_shot=False, change=3.0)

    # A whole-frame look, the candidate's, the whole-frame look the change asked for; none at 1200.
    assert looks.bars == [(8, False), (8, True), (8, False)]


def test_a_print_below_the_bar_seen_elsewhere_or_as_another_sku_or_in_another_shot_is_not_found(
    index: CatalogIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = (100.0, 200.0, 400.0, 700.0)
    elsewhere = (300.0, 500.0, 540.0, 900.0)
    looks = _ScriptedLooks(
        [_weak(2, box)],
        [_weak(2, elsewhere)],
        [_weak(2, box)],
        [_weak(3, box)],
        [_weak(3, elsewhere)],
        [_weak(3, elsewhere)],
        [_weak(3, elsewhere)],
    )
    monkeypatch.setattr("tagger.locating.locate_products", looks)
    locator = ShotLocator(index, 80, LocateConfig(), LocateSchedule(retry_ms=1000, follow_ms=600))
    frame = np.zeros((960, 540, 3), np.uint8)

    assert len(locator.detect(frame, 0)) == 0
    assert len(locator.detect(frame, 400)) == 0  # same SKU, another place: forgotten
    assert len(locator.detect(frame, 800)) == 0  # no look: the next full one is a retry interval on...
    assert len(locator.detect(frame, 1000)) == 0  # ...from the full look, not the look at the candidate
    assert len(locator.detect(frame, 1400)) == 0  # another SKU at that place (a look for SKU 2 only)
    assert len(locator.detect(frame, 2000)) == 0  # SKU 3 a candidate...
    locator.reset()  # ...but a cut: what the last shot showed confirms nothing
    assert len(locator.detect(frame, 2100)) == 0
    assert len(locator.detect(frame, 2500)) == 1
    assert looks.bars == [(8, False), (8, True), (8, False), (8, True), (8, False), (8, False), (8, True)]


def test_a_lost_product_is_not_found_again_on_a_product_still_followed(
    index: CatalogIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two near-twin cartons followed; one leaves. The whole-frame search for it finds its print on the
    twin that stayed (they share most of it): one object, not two tracks."""
    stays, left = (100.0, 200.0, 300.0, 600.0), (320.0, 200.0, 520.0, 600.0)
    looks = _ScriptedLooks(
        [_weak(2, stays, 30), _weak(3, left, 25)], [_weak(2, stays, 30)], [], [_weak(3, stays, 14)]
    )
    monkeypatch.setattr("tagger.locating.locate_products", looks)
    locator = ShotLocator(index, 80, LocateConfig(), LocateSchedule(retry_ms=1000, follow_ms=600))
    frame = np.zeros((960, 540, 3), np.uint8)

    first = locator.detect(frame, 0)
    followed = locator.detect(frame, 600)

    assert len(first) == 2
    assert followed.xyxy.tolist() == [list(stays)]
    assert first.tracker_id is not None
    assert followed.tracker_id is not None
    assert followed.tracker_id.tolist() == first.tracker_id.tolist()[:1]
    assert list(locator.held_until(900)) == followed.tracker_id.tolist()
    assert looks.bars == [(8, False), (8, True), (8, True), (8, True)]


def test_a_weak_print_beside_a_found_product_is_not_a_candidate(
    index: CatalogIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = (100.0, 200.0, 400.0, 700.0)
    behind = (420.0, 40.0, 540.0, 200.0)
    looks = _ScriptedLooks([_weak(2, box, 20), _weak(3, behind)], [_weak(2, box, 20), _weak(3, behind)])
    monkeypatch.setattr("tagger.locating.locate_products", looks)
    locator = ShotLocator(index, 80, LocateConfig(), LocateSchedule(retry_ms=1000, follow_ms=600))
    frame = np.zeros((960, 540, 3), np.uint8)

    seen = [locator.detect(frame, t_ms).xyxy.tolist() for t_ms in (0, 200, 600)]

    assert seen == [[list(box)], [], [list(box)]]  # the product followed; the shelf behind it never
    assert looks.bars == [(8, False), (8, True)]


def test_a_product_found_mid_shot_is_looked_at_again_at_the_next_sample(
    index: CatalogIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found after the shot's first look, a product has just come into view and its shot may end
    soon: a second sighting (a placement needs two) comes from the next sample, not a follow
    interval later. At the shot's first look there is no hurry."""
    box = (100.0, 200.0, 400.0, 700.0)
    looks = _ScriptedLooks([], [_weak(2, box, 20)], [_weak(2, box, 20)], [_weak(2, box, 20)])
    monkeypatch.setattr("tagger.locating.locate_products", looks)
    locator = ShotLocator(index, 80, LocateConfig(), LocateSchedule(retry_ms=1000, follow_ms=600))
    frame = np.zeros((960, 540, 3), np.uint8)

    seen = [len(locator.detect(frame, t_ms)) for t_ms in (0, 400, 1000, 1400, 1800, 2000)]

    assert seen == [0, 0, 1, 1, 0, 1]
    assert looks.bars == [(8, False), (8, False), (8, True), (8, True)]


def test_a_print_at_the_bar_is_found_at_once_and_the_two_bars_can_be_one(
    index: CatalogIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = (100.0, 200.0, 400.0, 700.0)
    monkeypatch.setattr("tagger.locating.locate_products", _ScriptedLooks([_weak(2, box, 12)]))
    assert len(ShotLocator(index, 80, LocateConfig()).detect(np.zeros((9, 9, 3), np.uint8), 0)) == 1

    single_bar = ShotLocator(index, 80, LocateConfig(min_inliers=10, tentative_inliers=10))
    monkeypatch.setattr("tagger.locating.locate_products", _ScriptedLooks([_weak(2, box, 10)]))
    assert len(single_bar.detect(np.zeros((9, 9, 3), np.uint8), 0)) == 1


@pytest.mark.parametrize(("min_inliers", "tentative"), [(12, 13), (12, 5), (5, 5)])
def test_the_tentative_bar_lies_between_the_fewest_matches_and_the_bar(
    min_inliers: int, tentative: int
) -> None:
    with pytest.raises(ValueError, match="unusable locate config"):
        LocateConfig(min_inliers=min_inliers, tentative_inliers=tentative)


def test_the_locator_takes_its_bars_frame_size_and_schedule_from_the_settings(index: CatalogIndex) -> None:
    settings = TaggerSettings(
        locate_min_inliers=14,
        locate_tentative_inliers=9,
        locate_max_side=720,
        locate_retry_ms=500,
        locate_max_retry_ms=3000,
    )
    locator = locator_for(SimpleNamespace(index=index), settings, 80)
    assert locator is not None
    config = locator.config
    assert (config.min_inliers, config.tentative_inliers, config.max_side) == (14, 9, 720)
    assert (locator.schedule.retry_ms, locator.schedule.max_retry_ms) == (500, 3000)

    # A tentative bar above the bar is the bar: confirmation off, not an unusable config.
    above = locator_for(SimpleNamespace(index=index), TaggerSettings(locate_min_inliers=7), 80)
    assert above is not None
    assert above.config.tentative_inliers == 7


def test_a_confirmed_candidate_brings_its_first_sighting_to_its_track(
    index: CatalogIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = (100.0, 200.0, 400.0, 700.0)
    moved_a_little = (120.0, 210.0, 420.0, 720.0)
    monkeypatch.setattr(
        "tagger.locating.locate_products", _ScriptedLooks([_weak(2, box)], [_weak(2, moved_a_little)])
    )
    locator = ShotLocator(index, 80, LocateConfig(), LocateSchedule(retry_ms=1000, follow_ms=600))
    first_frame = np.zeros((960, 540, 3), np.uint8)
    later_frame = np.ones((960, 540, 3), np.uint8)

    first = locator.proposals(Detections.empty(), first_frame, 0, starts_shot=True, frame_index=0)
    confirmed = locator.proposals(Detections.empty(), later_frame, 1000, starts_shot=False, frame_index=30)
    after = locator.proposals(Detections.empty(), later_frame, 1200, starts_shot=False, frame_index=36)

    assert len(first.located) == 0
    assert first.earlier == ()
    (sighting,) = confirmed.earlier
    assert (sighting.t_ms, sighting.frame_index) == (0, 0)
    assert sighting.image is first_frame
    assert sighting.located.xyxy.tolist() == [list(box)]
    assert sighting.located.tracker_id is not None
    assert confirmed.located.tracker_id is not None
    assert sighting.located.tracker_id.tolist() == confirmed.located.tracker_id.tolist()
    assert after.earlier == ()  # credited once


def _spanning(
    label: str, start_ms: int, end_ms: int, box: tuple[float, float, float, float], shot: int = 1
) -> Placement:
    return Placement(
        id=f"{label}-{start_ms}-{box}-{shot}",
        label=label,
        confidence=0.6,
        start_ms=start_ms,
        end_ms=end_ms,
        start_frame=0,
        end_frame=30,
        keyframes=(Keyframe(start_ms, box), Keyframe(end_ms, box)),
        thumbnail=None,
        crops=(),
        shot=shot,
    )


def test_a_general_placement_on_a_located_product_at_the_same_time_is_the_same_object() -> None:
    product = _spanning("product", 0, 3000, (0.2, 0.3, 0.5, 0.4))
    same_object = _spanning("cup", 0, 1000, (0.25, 0.35, 0.4, 0.3))
    elsewhere = _spanning("bottle", 0, 3000, (0.0, 0.0, 0.1, 0.1))
    after_it = _spanning("cup", 2800, 4000, (0.25, 0.35, 0.4, 0.3))
    other_shot = _spanning("cup", 0, 1000, (0.25, 0.35, 0.4, 0.3), shot=2)

    kept = without_doubles([product, same_object, elsewhere, after_it, other_shot], "product")

    assert kept == (product, elsewhere, after_it, other_shot)
    assert without_doubles([same_object], "product") == (same_object,)


def test_a_placement_box_is_interpolated_between_keyframes() -> None:
    moving = Placement(
        id="p",
        label="product",
        confidence=0.6,
        start_ms=0,
        end_ms=1000,
        start_frame=0,
        end_frame=30,
        keyframes=(Keyframe(0, (0.0, 0.0, 0.2, 0.2)), Keyframe(1000, (0.4, 0.2, 0.2, 0.4))),
        thumbnail=None,
        crops=(),
        shot=1,
    )

    assert box_at(moving, -50) == (0.0, 0.0, 0.2, 0.2)
    assert box_at(moving, 500) == pytest.approx((0.2, 0.1, 0.2, 0.3))
    assert box_at(moving, 2000) == (0.4, 0.2, 0.2, 0.4)


def test_a_change_while_the_followed_product_is_carried_brings_no_look_for_newcomers(
    index: CatalogIndex,
) -> None:
    # A product carried across the frame changes the picture around it itself (the hand, what it
    # passes): only once a look sees it hold still does a change away from it ask for newcomers.
    low, _ = _holding(2, scale=1.3, angle=10.0, centre=(270, 700))
    high, _ = _holding(2, scale=1.3, angle=10.0, centre=(270, 300))
    locator = ShotLocator(index, 80, LocateConfig(), LocateSchedule(retry_ms=1000, follow_ms=600))
    everywhere = np.full((64, 36), 60, np.uint8)

    locator.proposals(Detections.empty(), low, 0, starts_shot=True)
    carried = locator.proposals(Detections.empty(), high, 600, starts_shot=False)
    locator.proposals(Detections.empty(), high, 800, starts_shot=False, change=60.0, change_map=everywhere)
    assert len(carried.located) == 1
    assert locator.newcomer_looks == 0
    locator.proposals(Detections.empty(), high, 1200, starts_shot=False)  # a follow look: it held still
    locator.proposals(Detections.empty(), high, 1400, starts_shot=False, change=60.0, change_map=everywhere)
    assert locator.newcomer_looks == 1


def test_a_box_shift_is_its_centres_move_over_its_size() -> None:
    assert shift((0.0, 0.0, 100.0, 200.0), (0.0, 0.0, 100.0, 200.0)) == 0.0
    assert shift((0.0, 0.0, 100.0, 200.0), (50.0, 0.0, 150.0, 200.0)) == pytest.approx(0.5)
    assert shift((0.0, 0.0, 100.0, 200.0), (0.0, 100.0, 100.0, 300.0)) == pytest.approx(0.5)
