"""Labelled episodes made from still photos, for the end-to-end evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tagger.episode_eval import TruthProduct, TruthShot
from tagger.exceptions import VideoError
from tagger.probe import probe_video
from tagger.synthetic_episode import (
    ENTRY_MS,
    Inset,
    Joining,
    ShotSpec,
    camera_frame,
    inset_canvas,
    pair_layers,
    product_canvas,
    product_layers,
    render_episode,
    with_pair,
    with_square,
)
from tagger.video.decode import decode_frames


def photo(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (120, 80)) -> Path:
    """A landscape photo: a coloured square in the middle of a grey field."""
    height, width = size[1], size[0]
    image = np.full((height, width, 3), 128, dtype=np.uint8)
    image[20:60, 40:80] = colour
    cv2.imwrite(str(path), image)
    return path


def test_a_product_photo_spans_the_frame_width_over_a_darker_blurred_copy(tmp_path: Path) -> None:
    image = cv2.imread(str(photo(tmp_path / "p.png", (0, 0, 255))))
    canvas = product_canvas(np.asarray(image, dtype=np.uint8), 90, 160)
    assert canvas.shape == (160, 90, 3)
    top = (160 - 90) // 2
    # The photo's centre square fills the middle band; its red square sits at the band's centre.
    assert tuple(canvas[top + 45, 45]) == (0, 0, 255)
    # Above and below: the blurred background, darker than the photo's grey.
    assert canvas[:top].mean() < 128 * 0.75
    assert canvas[top + 90 :].mean() < 128 * 0.75


def test_the_camera_zooms_in_over_the_shot_and_stays_inside_the_canvas() -> None:
    canvas = np.zeros((160, 90, 3), dtype=np.uint8)
    canvas[::2] = 255  # stripes: a zoom makes them wider
    spec = ShotSpec(Path("unused.png"), 1000, "A", zoom=0.5, pan=(1.0, -1.0))
    first, last = camera_frame(canvas, 0.0, spec), camera_frame(canvas, 1.0, spec)
    assert first.shape == last.shape == canvas.shape
    assert np.array_equal(first, canvas)
    assert not np.array_equal(last, canvas)


def test_an_episode_is_written_with_truth_on_its_frame_times(tmp_path: Path) -> None:
    shots = [
        ShotSpec(photo(tmp_path / "a.png", (0, 0, 255)), 1000, "GS-01"),
        ShotSpec(photo(tmp_path / "b.png", (255, 0, 0)), 700, "GS-02"),
        ShotSpec(photo(tmp_path / "free.png", (0, 255, 0)), 1300, None),
    ]
    target = tmp_path / "out" / "episode.mp4"
    truth = render_episode(shots, target, size=(72, 128), fps=10)

    assert truth == [TruthShot(0, 1000, "GS-01"), TruthShot(1000, 1700, "GS-02"), TruthShot(1700, 3000, None)]
    info = probe_video(target)
    assert (info.width, info.height, info.codec) == (72, 128, "h264")
    assert info.duration_ms == pytest.approx(3000, abs=100)
    frames = list(decode_frames(target))
    assert len(frames) == 30
    # A hard cut: the last frame of shot 1 is red at the centre, the first of shot 2 is blue.
    red = frames[9].frame.to_ndarray(format="bgr24")[64, 36]
    blue = frames[10].frame.to_ndarray(format="bgr24")[64, 36]
    assert red[2] > 200 > red[0]
    assert blue[0] > 200 > blue[2]
    assert not list(target.parent.glob("*.part"))


def test_an_unreadable_photo_is_refused_and_leaves_no_episode(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    target = tmp_path / "episode.mp4"
    with pytest.raises(VideoError, match=r"broken\.png: not a readable image"):
        render_episode([ShotSpec(broken, 500, "A")], target, size=(72, 128), fps=10)
    assert not target.exists()


def test_a_product_slides_in_from_the_bottom_edge_and_its_truth_says_when(tmp_path: Path) -> None:
    red = photo(tmp_path / "a.png", (0, 0, 255))
    image = np.asarray(cv2.imread(str(red)), dtype=np.uint8)
    backdrop, square = product_layers(image, 90, 160)
    assert np.array_equal(with_square(backdrop, square, 0.0), backdrop)  # not in view yet
    rising = with_square(backdrop, square, 0.1)  # its top rows just over the bottom edge
    shown = int(np.argmax(np.any(rising != backdrop, axis=(1, 2))))
    assert 100 < shown < 160
    assert np.array_equal(rising[shown:], square[: 160 - shown])
    assert np.array_equal(with_square(backdrop, square, 1.0), product_canvas(image, 90, 160))
    shots = [
        ShotSpec(red, 1000 + ENTRY_MS + 500, "GS-01", zoom=0.0, enter_ms=1000),
        ShotSpec(photo(tmp_path / "free.png", (0, 255, 0)), 500, None, enter_ms=100),  # no product
    ]
    target = tmp_path / "episode.mp4"

    truth = render_episode(shots, target, size=(72, 128), fps=10)

    end = 1000 + ENTRY_MS + 500
    assert truth == [TruthShot(0, end, "GS-01", visible_ms=1100), TruthShot(end, end + 500, None)]
    frames = [frame.frame.to_ndarray(format="bgr24") for frame in decode_frames(target)]
    # The red square at the frame's middle appears only once the product has slid into place.
    in_place = (1000 + ENTRY_MS) // 100 + 1
    assert frames[5][64, 36][2] < 200
    assert frames[in_place][64, 36][2] > 200 > frames[in_place][64, 36][0]


def test_a_product_is_in_view_from_the_first_frame_the_camera_shows_any_of_it(tmp_path: Path) -> None:
    # Zoomed in near the canvas's top, the camera's window leaves out its bottom rows: at the first
    # frame of the slide (1,033 ms at 30 fps) the rising product's top rows are not on screen yet.
    red = photo(tmp_path / "a.png", (0, 0, 255))
    spec = ShotSpec(red, 3000, "GS-01", zoom=0.6, pan=(0.0, 1.0), enter_ms=1000)

    [truth] = render_episode([spec], tmp_path / "episode.mp4", size=(72, 128), fps=30)

    assert truth.visible_ms is not None
    assert 1033 < truth.visible_ms < 1200


def test_a_product_that_would_enter_after_its_shot_is_refused(tmp_path: Path) -> None:
    spec = ShotSpec(photo(tmp_path / "a.png", (0, 0, 255)), 1000, "GS-01", enter_ms=1000)

    with pytest.raises(ValueError, match="enter_ms 1000 is outside its shot"):
        render_episode([spec], tmp_path / "episode.mp4", size=(72, 128), fps=10)


def test_a_second_product_joins_the_held_one_in_the_lower_half_and_its_truth_says_when(
    tmp_path: Path,
) -> None:
    red = photo(tmp_path / "a.png", (0, 0, 255))
    blue = photo(tmp_path / "b.png", (255, 0, 0))
    backdrop, first, second = pair_layers(
        np.asarray(cv2.imread(str(red)), np.uint8), np.asarray(cv2.imread(str(blue)), np.uint8), 90, 160
    )
    assert first.shape == second.shape == (80, 80, 3)  # half the frame's height
    alone, joined = with_pair(backdrop, first, second, 0.0), with_pair(backdrop, first, second, 1.0)
    assert tuple(alone[40, 45]) == (0, 0, 255)  # the held product in the upper half
    assert np.array_equal(alone[80:], backdrop[80:])  # nothing below it yet
    assert tuple(joined[120, 45]) == (255, 0, 0)  # the second one in place in the lower half
    assert np.array_equal(joined[:80], alone[:80])
    shots = [
        ShotSpec(red, 1000 + ENTRY_MS + 500, "GS-01", zoom=0.0, joined_by=Joining(blue, "GS-02", 1000)),
        ShotSpec(photo(tmp_path / "free.png", (0, 255, 0)), 500, None),
    ]
    target = tmp_path / "episode.mp4"

    truth = render_episode(shots, target, size=(72, 128), fps=10)

    end = 1000 + ENTRY_MS + 500
    assert truth == [
        TruthShot(0, end, "GS-01", also=(TruthProduct("GS-02", 1100),)),
        TruthShot(end, end + 500, None),
    ]
    frames = [frame.frame.to_ndarray(format="bgr24") for frame in decode_frames(target)]
    assert frames[0][32, 36][2] > 200  # red from the first frame, above the middle
    assert frames[5][96, 36][0] < 200  # no blue below it before the entry
    assert frames[(1000 + ENTRY_MS) // 100 + 1][96, 36][0] > 200


def test_a_joined_shot_whose_own_product_enters_too_is_refused_when_planned(tmp_path: Path) -> None:
    red = photo(tmp_path / "a.png", (0, 0, 255))

    with pytest.raises(ValueError, match="own product is in view from its start"):
        ShotSpec(red, 3000, "GS-01", enter_ms=500, joined_by=Joining(red, "GS-02", 1000))


def test_a_product_free_shot_cannot_be_joined(tmp_path: Path) -> None:
    red = photo(tmp_path / "a.png", (0, 0, 255))

    with pytest.raises(ValueError, match="only a product shot can be joined"):
        ShotSpec(red, 3000, None, joined_by=Joining(red, "GS-02", 1000))


def scene(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (90, 160)) -> Path:
    cv2.imwrite(str(path), np.full((size[1], size[0], 3), colour, dtype=np.uint8))
    return path


def test_an_inset_product_is_its_photos_centre_square_at_its_share_of_the_width_over_the_scene(
    tmp_path: Path,
) -> None:
    image = np.asarray(cv2.imread(str(photo(tmp_path / "p.png", (0, 0, 255)))), dtype=np.uint8)
    green = np.full((50, 40, 3), (0, 255, 0), dtype=np.uint8)

    canvas = inset_canvas(image, green, 90, 160, Inset(tmp_path / "unused.png", 0.5, (0.5, 0.25)))

    assert canvas.shape == (160, 90, 3)
    # 45 px across, centred at (45, 40): its red middle there, the photo's grey around it, the scene beyond.
    assert tuple(canvas[40, 45]) == (0, 0, 255)
    assert tuple(canvas[20, 25]) == (128, 128, 128)
    assert tuple(canvas[16, 22]) == (0, 255, 0)
    assert tuple(canvas[100, 45]) == (0, 255, 0)


def test_an_inset_near_the_edge_is_kept_whole_inside_the_frame(tmp_path: Path) -> None:
    image = np.asarray(cv2.imread(str(photo(tmp_path / "p.png", (0, 0, 255)))), dtype=np.uint8)
    black = np.zeros((160, 90, 3), dtype=np.uint8)

    canvas = inset_canvas(image, black, 90, 160, Inset(tmp_path / "unused.png", 0.4, (1.0, 1.0)))

    # 36 px square pushed back to the bottom-right corner: its middle is the photo's red.
    assert tuple(canvas[160 - 18, 90 - 18]) == (0, 0, 255)
    assert int(canvas[: 160 - 36].max()) == 0


def test_an_episode_with_an_inset_product_shows_it_small_over_its_scene(tmp_path: Path) -> None:
    red = photo(tmp_path / "a.png", (0, 0, 255))
    green = scene(tmp_path / "scene.png", (0, 255, 0))
    spec = ShotSpec(red, 1000, "GS-01", zoom=0.0, inset=Inset(green, 0.5, (0.5, 0.5)))

    [truth] = render_episode([spec], tmp_path / "episode.mp4", size=(72, 128), fps=10)

    assert truth == TruthShot(0, 1000, "GS-01")
    first = next(iter(decode_frames(tmp_path / "episode.mp4"))).frame.to_ndarray(format="bgr24")
    middle, corner = first[64, 36].astype(int), first[5, 5].astype(int)
    # The product's red in the middle, the scene's green in the corner.
    assert middle[2] > 150
    assert middle[1] < 100
    assert corner[1] > 150
    assert corner[2] < 100


@pytest.mark.parametrize("shot", ["entering", "joined", "product-free"])
def test_an_inset_is_only_for_a_product_shot_in_view_from_its_start_alone(tmp_path: Path, shot: str) -> None:
    red = photo(tmp_path / "a.png", (0, 0, 255))
    inset = Inset(scene(tmp_path / "scene.png", (0, 255, 0)), 0.5, (0.5, 0.5))
    choices: dict[str, dict[str, Any]] = {
        "entering": {"sku": "GS-01", "enter_ms": 500},
        "joined": {"sku": "GS-01", "joined_by": Joining(red, "GS-02", 1000)},
        "product-free": {"sku": None},
    }
    fields = choices[shot]

    with pytest.raises(ValueError, match="an inset product is in view from its shot's start, alone"):
        ShotSpec(red, 3000, inset=inset, **fields)


@pytest.mark.parametrize("centre", [(-0.1, 0.5), (0.5, 1.2)])
def test_an_inset_centre_outside_the_frame_is_refused(centre: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="centre must lie in the frame"):
        Inset(Path("scene.png"), 0.5, centre)


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_an_inset_share_outside_the_frame_width_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="share of the frame width"):
        Inset(Path("scene.png"), share, (0.5, 0.5))
