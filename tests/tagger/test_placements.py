"""Placement building: fragments merged (also along the direction of motion), flickers dropped."""

from __future__ import annotations

import numpy as np

from tagger.detections import Detections
from tagger.placements import (
    Hold,
    Observation,
    Placement,
    PlacementBuilder,
    PlacementRules,
    extrapolate,
    sharpness,
    widened,
)

NAMES = ("bottle", "cup")
IMAGE = np.random.default_rng(0).integers(0, 255, size=(100, 200, 3), dtype=np.uint8)


def box(track_id: int, x: float, class_id: int = 0, width: float = 20.0) -> Detections:
    """One tracked box, as the tracker returns it."""
    return Detections(
        xyxy=np.array([[x, 40.0, x + width, 60.0]], dtype=np.float32),
        confidence=np.array([0.8], dtype=np.float32),
        class_id=np.array([class_id]),
        tracker_id=np.array([track_id]),
    )


def feed(builder: PlacementBuilder, sightings: list[tuple[int, Detections]], shot: int = 0) -> None:
    for t_ms, tracked in sightings:
        builder.observe(shot, t_ms, t_ms // 33, tracked, IMAGE)


def spans(builder: PlacementBuilder) -> list[tuple[str, int, int]]:
    return [(p.label, p.start_ms, p.end_ms) for p in builder.build()]


def test_two_fragments_of_a_still_object_are_merged() -> None:
    builder = PlacementBuilder(NAMES, PlacementRules())

    feed(builder, [(0, box(1, 50)), (400, box(1, 51)), (800, box(1, 50))])
    feed(builder, [(1600, box(2, 52)), (2000, box(2, 52))])

    assert spans(builder) == [("bottle", 0, 2000)]


def test_fragments_of_a_moving_object_are_merged_along_its_path() -> None:
    builder = PlacementBuilder(NAMES, PlacementRules())

    # 25 px per 100 ms; lost for 300 ms; found again where it was heading, far from where it was last seen.
    feed(builder, [(0, box(1, 0)), (100, box(1, 25)), (200, box(1, 50)), (300, box(1, 75))])
    feed(builder, [(600, box(2, 150)), (700, box(2, 175)), (800, box(2, 200 - 20))])

    assert spans(builder) == [("bottle", 0, 800)]


def test_different_labels_or_different_shots_are_never_merged() -> None:
    builder = PlacementBuilder(NAMES, PlacementRules())

    feed(builder, [(0, box(1, 50)), (600, box(1, 50))])
    feed(builder, [(1000, box(2, 50, class_id=1)), (1600, box(2, 50, class_id=1))])
    feed(builder, [(2000, box(3, 50)), (2600, box(3, 50))], shot=1)

    assert spans(builder) == [("bottle", 0, 600), ("cup", 1000, 1600), ("bottle", 2000, 2600)]


def test_a_shot_taken_when_it_ends_gives_what_building_at_the_end_gives() -> None:
    def fed() -> PlacementBuilder:
        builder = PlacementBuilder(NAMES, PlacementRules())
        feed(builder, [(0, box(1, 50)), (400, box(1, 51)), (800, box(1, 50))])
        feed(builder, [(1600, box(2, 52)), (2000, box(2, 52))])  # a fragment of the same bottle
        feed(builder, [(0, box(3, 120, class_id=1)), (900, box(3, 120, class_id=1))])
        feed(builder, [(2500, box(4, 50)), (3000, box(4, 50))], shot=1)
        return builder

    at_once, shot_by_shot = fed(), fed()
    first, second = shot_by_shot.take_shot(0), shot_by_shot.take_shot(1)

    def span(placements: list[Placement]) -> list[tuple[str, int, int, int]]:
        return [(p.label, p.start_ms, p.end_ms, p.shot) for p in placements]

    assert span(first + second) == span(at_once.build())
    assert span(first) == [("bottle", 0, 2000, 0), ("cup", 0, 900, 0)]
    # Taken tracks are forgotten (their crops with them), but still counted as seen.
    assert shot_by_shot.take_shot(0) == []
    assert shot_by_shot.build() == []
    assert shot_by_shot.tracks_seen == at_once.tracks_seen == 4


def test_flickers_are_dropped() -> None:
    builder = PlacementBuilder(NAMES, PlacementRules(min_duration_ms=500, min_detections=2))

    feed(builder, [(0, box(1, 10))])  # one detection
    feed(builder, [(100, box(2, 120)), (300, box(2, 120))])  # too short

    assert spans(builder) == []


def test_a_hold_runs_a_placement_on_to_when_its_object_was_last_known_there() -> None:
    def fed() -> PlacementBuilder:
        builder = PlacementBuilder(NAMES, PlacementRules(min_duration_ms=500, min_detections=2))
        feed(builder, [(2000, box(-2, 50)), (2400, box(-2, 50))])  # seen twice, 400 ms apart
        feed(builder, [(2000, box(-3, 150, class_id=1)), (2600, box(-3, 150, class_id=1))])
        feed(builder, [(2200, box(-4, 100))])  # seen once: a hold never makes a second sighting
        return builder

    held = fed().take_shot(
        0, holds={-2: Hold(2900, 87), -3: Hold(2500, 75), -4: Hold(2900, 87), -9: Hold(1, 1)}
    )
    assert [(p.label, p.start_ms, p.end_ms, p.end_frame) for p in held] == [
        ("bottle", 2000, 2900, 87),  # 900 ms to its hold: long enough
        ("cup", 2000, 2600, 78),  # a hold before the last sighting shortens nothing
    ]
    assert [(p.label, p.end_ms) for p in fed().take_shot(0)] == [("cup", 2600)]  # 400 ms: too short
    assert fed().take_shot(1, holds={-2: Hold(2900, 87)}) == []  # a hold is for its own shot's tracks


def test_a_merged_track_is_held_as_its_last_fragment_is() -> None:
    builder = PlacementBuilder(NAMES, PlacementRules())
    feed(builder, [(0, box(-2, 50)), (600, box(-2, 50))])
    feed(builder, [(1200, box(-5, 52)), (1800, box(-5, 52))])

    merged = builder.take_shot(0, holds={-2: Hold(900, 27), -5: Hold(2300, 69)})

    assert [(p.start_ms, p.end_ms) for p in merged] == [(0, 2300)]


def test_the_best_crops_are_kept_best_first() -> None:
    builder = PlacementBuilder(NAMES, PlacementRules(crops_per_placement=2))
    small, large = box(1, 10, width=10), box(1, 10, width=40)

    feed(builder, [(0, small), (300, large), (600, small), (900, large)])
    (placement,) = builder.build()

    assert [crop.t_ms for crop in placement.crops] == [300, 900]
    assert placement.crops[0].image.shape == (28, 56, 3)  # the 40x20 box and 20 % of it on each side


def test_crops_are_widened_by_the_margin_and_clipped_to_the_frame() -> None:
    frame = np.zeros((100, 200, 3), np.uint8)

    assert widened(frame, (50, 40, 150, 60), 0.2).shape == (28, 140, 3)
    assert widened(frame, (0, 0, 100, 50), 0.2).shape == (60, 120, 3)  # clipped at the top and left
    assert widened(frame, (150, 80, 200, 100), 0.5).shape == (30, 75, 3)  # and at the bottom and right
    assert widened(frame, (50, 40, 150, 60), 0.0).shape == (20, 100, 3)


def test_extrapolation_and_sharpness_of_known_inputs() -> None:
    observations = [
        Observation(0, 0, (0.1, 0.2, 0.1, 0.1), 0.9, 0),
        Observation(100, 3, (0.2, 0.2, 0.1, 0.1), 0.9, 0),
    ]
    flat = np.full((32, 32, 3), 128, dtype=np.uint8)

    assert extrapolate(observations, 300) == (0.4, 0.2, 0.1, 0.1)
    assert sharpness(flat) == 0.0
    assert sharpness(IMAGE) > 1000.0
