from __future__ import annotations

import numpy as np
import pytest

from tagger.detection.preprocess import Letterbox, fitted_input_size, letterbox, to_tensor


def test_given_portrait_frame_when_letterboxed_top_left_then_pad_right_and_ratio_kept() -> None:
    image = np.full((200, 100, 3), 7, dtype=np.uint8)

    boxed, placement = letterbox(image, 50, 50, pad_value=114)

    assert placement == Letterbox(ratio=0.25, pad_x=0.0, pad_y=0.0)
    assert boxed.shape == (50, 50, 3)
    assert (boxed[:, :25] == 7).all()
    assert (boxed[:, 25:] == 114).all()


def test_given_landscape_frame_when_letterboxed_centred_then_padding_split_top_and_bottom() -> None:
    image = np.full((10, 40, 3), 1, dtype=np.uint8)

    boxed, placement = letterbox(image, 80, 80, pad_value=0, center=True)

    assert placement == Letterbox(ratio=2.0, pad_x=0.0, pad_y=30.0)
    assert (boxed[30:50] == 1).all()
    assert (boxed[:30] == 0).all()
    assert (boxed[50:] == 0).all()


def test_given_an_empty_image_when_letterboxed_then_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        letterbox(np.zeros((0, 10, 3), dtype=np.uint8), 32, 32)


def test_given_bgr_images_when_packed_as_rgb_scaled_then_nchw_float_in_that_order() -> None:
    pixel = np.array([[[10, 20, 30]]], dtype=np.uint8)

    tensor = to_tensor([pixel, pixel], rgb=True, scale=0.5)

    assert tensor.shape == (2, 3, 1, 1)
    assert tensor.dtype == np.float32
    assert tensor[0, :, 0, 0].tolist() == [15.0, 10.0, 5.0]


def test_given_bgr_raw_card_when_packed_then_pixels_untouched() -> None:
    pixel = np.array([[[10, 20, 30]]], dtype=np.uint8)

    assert to_tensor([pixel], rgb=False, scale=1.0)[0, :, 0, 0].tolist() == [10.0, 20.0, 30.0]


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ((540, 960), (256, 416)),  # 9:16 episode frame: 234 wide, padded to 256
        ((1920, 1080), (416, 256)),  # landscape
        ((1000, 1000), (416, 416)),  # square: nothing saved
        ((10, 10), (416, 416)),  # tiny frames are scaled up, as letterbox does
        ((100, 4000), (32, 416)),  # a sliver still gets one stride
    ],
)
def test_given_a_frame_when_sizing_a_fit_input_then_smallest_multiple_that_holds_it(
    image: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert fitted_input_size(*image, 416, 416, 32) == expected


def test_given_a_fit_size_when_letterboxed_then_the_scale_is_that_of_the_full_input() -> None:
    frame = np.zeros((960, 540, 3), dtype=np.uint8)
    width, height = fitted_input_size(540, 960, 416, 416, 32)

    _, fitted = letterbox(frame, width, height)
    _, full = letterbox(frame, 416, 416)

    assert fitted.ratio == full.ratio


def test_given_an_empty_size_when_sizing_a_fit_input_then_refused() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        fitted_input_size(0, 960, 416, 416, 32)
