"""Following a drawn box (`tagger.follow.follow_box`) on encoded videos: a printed patch carried across
the frame is followed both ways from the frame it was drawn on, a box with nothing to match stays where it
was drawn and says why, a product that leaves holds its last box, and requests that cannot be are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tagger.follow import Box, FollowError, follow_box
from tagger.keyframes import interpolate_boxes
from tagger.placements import normalized_iou
from tests.tagger.factories import carried_frames, printed_face, write_video
from tests.utils.scripts import script_module

WIDTH, HEIGHT, SIDE = 320, 240, 80
FPS = 30


def _box_at(x: int, y: int) -> Box:
    return (x / WIDTH, y / HEIGHT, SIDE / WIDTH, SIDE / HEIGHT)


def _box_then(followed: tuple[tuple[int, Box], ...], t_ms: int) -> Box:
    times = [t for t, _ in followed]
    boxes = np.asarray([box for _, box in followed], dtype=np.float64)
    x, y, w, h = (float(v) for v in interpolate_boxes(times, boxes, [t_ms])[0])
    return (x, y, w, h)


@pytest.fixture(scope="module")
def carried(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of a printed patch carried left to right and down, 3 px and 1 px a frame."""
    positions: list[tuple[int, int] | None] = [(10 + 3 * i, 40 + i) for i in range(60)]
    return write_video(
        tmp_path_factory.mktemp("follow") / "carried.mp4",
        carried_frames(positions, printed_face(SIDE), WIDTH, HEIGHT),
        fps=FPS,
    )


def test_a_box_drawn_mid_span_is_followed_both_ways(carried: Path) -> None:
    # Drawn at frame 30 (1000 ms), where the patch is at (100, 70)
    followed = follow_box(carried, box=_box_at(100, 70), at_ms=1000, start_ms=0, end_ms=1967)

    assert followed.reason is None
    # Every 100 ms and the span's last frame: all show the pack
    assert followed.found == followed.looks >= 20
    assert followed.keyframes[-1][0] == 1967
    # Its box is where the patch is at the start and at the end of the span, not where it was drawn
    for t_ms, frame in ((0, 0), (500, 15), (1500, 45), (1967, 59)):
        truth = _box_at(10 + 3 * frame, 40 + frame)
        assert normalized_iou(_box_then(followed.keyframes, t_ms), truth) > 0.8, t_ms
    assert normalized_iou(_box_at(100, 70), _box_at(10, 40)) < 0.1  # (a box held still would have lost it)
    # And keyframes are few: a straight path needs its two ends and the drawn frame at most
    assert 2 <= len(followed.keyframes) <= 4
    assert [t for t, _ in followed.keyframes] == sorted(t for t, _ in followed.keyframes)


def test_a_box_over_nothing_to_match_stays_where_it_was_drawn_and_says_why(carried: Path) -> None:
    # The bottom right corner is the plain backdrop
    box = (0.7, 0.75, 0.25, 0.2)

    followed = follow_box(carried, box=box, at_ms=600, start_ms=0, end_ms=1967)

    assert followed.keyframes == ((600, box),)
    assert followed.reason is not None
    assert followed.reason.startswith("too little texture in the box to follow")


def test_a_product_that_leaves_holds_its_last_box(tmp_path: Path) -> None:
    # The patch is there for the first second, then gone
    positions: list[tuple[int, int] | None] = [(10 + 3 * i, 40) for i in range(30)] + [None] * 30
    video = write_video(
        tmp_path / "leaves.mp4", carried_frames(positions, printed_face(SIDE), WIDTH, HEIGHT), fps=FPS
    )

    followed = follow_box(video, box=_box_at(40, 40), at_ms=333, start_ms=0, end_ms=1967)

    last_t, last_box = followed.keyframes[-1]
    assert last_t < 1000
    assert normalized_iou(last_box, _box_at(10 + 3 * round(last_t * FPS / 1000), 40)) > 0.8
    assert followed.found < followed.looks


@pytest.mark.parametrize(
    ("box", "at_ms", "start_ms", "end_ms", "message"),
    [
        ((0.9, 0.1, 0.2, 0.2), 100, 0, 1000, "does not lie inside the frame"),
        ((0.1, 0.1, 0.0, 0.2), 100, 0, 1000, "does not lie inside the frame"),
        ((float("nan"), 0.1, 0.2, 0.2), 100, 0, 1000, "does not lie inside the frame"),
        ((0.1, 0.1, 0.2, 0.2), 100, 500, 500, "is empty"),
        ((0.1, 0.1, 0.2, 0.2), 1200, 0, 1000, "outside its span"),
    ],
)
def test_a_request_that_cannot_be_followed_is_refused_before_any_decoding(
    box: Box, at_ms: int, start_ms: int, end_ms: int, message: str, tmp_path: Path
) -> None:
    with pytest.raises(FollowError, match=message):
        follow_box(tmp_path / "never-read.mp4", box=box, at_ms=at_ms, start_ms=start_ms, end_ms=end_ms)


def test_the_follow_benchmark_scores_a_followed_box_against_one_left_where_it_was_drawn(
    carried: Path,
) -> None:
    # A placement as `reelcart tag` writes it: the pack's true path, as keyframes at both ends
    placement = {
        "start_ms": 0,
        "end_ms": 1967,
        "keyframes": [
            {"t_ms": 0, "box": list(_box_at(10, 40))},
            {"t_ms": 1967, "box": list(_box_at(187, 99))},
        ],
    }

    with script_module("bench_follow") as bench:
        row = bench.measure(placement, carried)

    assert row is not None
    assert row["moments"] == 20
    assert row["follow"]["on"] == 20
    assert row["follow"]["mean"] > 0.85
    # Left where it was drawn (the middle), the box is off the pack for much of the span
    assert row["static"]["on"] < 14
    assert row["static"]["worst"] == 0.0
