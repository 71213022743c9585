"""Letterboxing and tensor packing: pure functions from BGR uint8 images to network input."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from tagger.arrays import FloatArray, Image


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How an image was placed in the network input: `input = image * ratio + (pad_x, pad_y)`."""

    ratio: float
    pad_x: float
    pad_y: float


def fitted_input_size(
    image_width: int, image_height: int, width: int, height: int, multiple: int
) -> tuple[int, int]:
    """The smallest network input, in multiples of `multiple`, that holds the image scaled to fit
    `width`x`height` (the same scale `letterbox` uses): a 540x960 frame into 416x416 gives 256x416.
    """
    if image_width <= 0 or image_height <= 0:
        raise ValueError(f"image size must be positive, got {image_width}x{image_height}")
    ratio = min(width / image_width, height / image_height)
    scaled_w = max(1, min(width, round(image_width * ratio)))
    scaled_h = max(1, min(height, round(image_height * ratio)))
    return (min(width, -(-scaled_w // multiple) * multiple), min(height, -(-scaled_h // multiple) * multiple))


def letterbox(
    image: Image, width: int, height: int, *, pad_value: int = 114, center: bool = False
) -> tuple[Image, Letterbox]:
    """Scale `image` to fit `width`x`height` keeping its aspect ratio; pad the rest with `pad_value`."""
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"expected a non-empty HxWx3 image, got shape {image.shape}")
    source_h, source_w = image.shape[:2]
    ratio = min(width / source_w, height / source_h)
    new_w = max(1, min(width, round(source_w * ratio)))
    new_h = max(1, min(height, round(source_h * ratio)))
    pad_x = (width - new_w) // 2 if center else 0
    pad_y = (height - new_h) // 2 if center else 0
    canvas = np.full((height, width, 3), pad_value, dtype=np.uint8)
    if (new_w, new_h) == (source_w, source_h):
        resized = image
    else:
        # Bilinear, as YOLOX and ultralytics preprocess: the networks were trained on such inputs (and
        # it is several times cheaper than INTER_AREA at these sizes).
        resized = np.asarray(
            cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR), dtype=np.uint8
        )
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    return canvas, Letterbox(ratio=ratio, pad_x=float(pad_x), pad_y=float(pad_y))


def to_tensor(images: Sequence[Image], *, rgb: bool, scale: float) -> FloatArray:
    """Letterboxed BGR images → one NCHW float32 batch in the colour order and scale the card asks."""
    batch = np.stack(images)
    if rgb:
        batch = batch[..., ::-1]
    tensor = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
    if scale != 1.0:
        tensor *= np.float32(scale)
    return tensor
