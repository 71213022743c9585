"""A product's own print: boxes a brand marks around the part of its pack its siblings lack."""

from __future__ import annotations

import numpy as np
import pytest

from tagger.linking.own_print import (
    MAX_BOXES,
    OwnPrintError,
    check_boxes,
    format_own_print,
    parse_own_print,
    points_inside,
)


def test_boxes_are_read_from_their_text_form_and_written_back() -> None:
    boxes = parse_own_print("0.42 0.31 0.57 0.54; 0.55,0.3,0.7,0.62;")

    assert boxes == ((0.42, 0.31, 0.57, 0.54), (0.55, 0.3, 0.7, 0.62))
    assert parse_own_print(format_own_print(boxes)) == boxes
    assert parse_own_print("") == ()
    assert parse_own_print("  ") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.1 0.2 0.3", "box 1: needs four numbers x0 y0 x1 y1, got 3"),
        ("0.1 0.2 0.3 0.4; 0.5 0.5 1.5 0.9", "box 2: numbers must be fractions of the image, 0 to 1"),
        ("0.5 0.2 0.3 0.4", "box 1: needs x0 < x1 and y0 < y1 (left, top, right, bottom)"),
        ("0.1 0.4 0.3 0.4", "box 1: needs x0 < x1 and y0 < y1 (left, top, right, bottom)"),
        ("0.1 0.2 0.3 nan", "box 1: numbers must be fractions of the image, 0 to 1"),
        ("left top right bottom", "box 1: 'left top right bottom' is not four numbers"),
    ],
)
def test_a_box_that_cannot_be_is_refused_with_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(OwnPrintError) as raised:
        parse_own_print(text)

    assert str(raised.value) == message


def test_at_most_sixteen_boxes() -> None:
    assert len(check_boxes([(0.1, 0.1, 0.2, 0.2)] * MAX_BOXES)) == MAX_BOXES
    with pytest.raises(OwnPrintError, match="at most 16 boxes, got 17"):
        check_boxes([(0.1, 0.1, 0.2, 0.2)] * (MAX_BOXES + 1))


def test_points_are_counted_inside_any_box_in_the_images_pixels() -> None:
    # A 200 x 100 (height x width) image; points as x, y pixels.
    points = np.array([[10, 10], [60, 150], [90, 190], [50, 100], [99, 20]], dtype=np.float32)
    boxes = ((0.0, 0.0, 0.2, 0.1), (0.5, 0.7, 1.0, 1.0))

    assert points_inside(points, (200, 100), boxes) == 3  # (10, 10), (60, 150), (90, 190)
    assert points_inside(points, (200, 100), ()) == 0
    assert points_inside(np.zeros((0, 2), np.float32), (200, 100), boxes) == 0
