"""Image loading with reasons for refusal, catalog views and query crops; pure functions over numpy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from tagger.arrays import Image

# Below this a packshot carries no usable print; above it we downscale (a 12k x 12k upload would cost
# hundreds of MB per feature pass and adds nothing at 224 px embedding size).
MIN_SIDE_PX = 32
MAX_SIDE_PX = 1600
# Decoding is refused past this many pixels: a forged header must not make us allocate gigabytes.
MAX_DECODE_PIXELS = 60_000_000


@dataclass(frozen=True, slots=True)
class ImageProblem:
    """Why an image was not used; `reason` is a one-line, user-facing sentence."""

    source: str
    reason: str


def decode_image(data: bytes, source: str) -> Image | ImageProblem:
    """Decode encoded bytes to BGR uint8, refusing empty, undecodable, tiny or absurdly large images."""
    if not data:
        return ImageProblem(source, "image file is empty")
    header = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_REDUCED_COLOR_8)
    if header is not None and header.shape[0] * header.shape[1] * 64 > MAX_DECODE_PIXELS:
        return ImageProblem(source, f"image is too large to decode (about {header.shape[1] * 8} px wide)")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return ImageProblem(source, "image cannot be decoded (not a JPEG/PNG/WebP or truncated)")
    return check_image(image, source)


def read_image(path: Path) -> Image | ImageProblem:
    """Read an image file; a missing or unreadable file becomes an `ImageProblem`, not an exception."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ImageProblem(str(path), "image file does not exist")
    except OSError as error:
        return ImageProblem(str(path), f"image file cannot be read: {error.strerror or error}")
    return decode_image(data, str(path))


def check_image(image: NDArray[np.generic], source: str) -> Image | ImageProblem:
    """Validate an in-memory image: BGR uint8 (grey is promoted), not tiny; huge ones are downscaled."""
    if image.dtype != np.uint8:
        return ImageProblem(source, f"image must be uint8, got {image.dtype}")
    pixels = np.asarray(image, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = np.asarray(cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        return ImageProblem(source, f"image must be HxWx3 BGR, got shape {pixels.shape}")
    if pixels.shape[2] == 4:
        pixels = np.asarray(cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR), dtype=np.uint8)
    height, width = pixels.shape[:2]
    if min(height, width) < MIN_SIDE_PX:
        return ImageProblem(
            source, f"image is too small ({width}x{height} px; need ≥ {MIN_SIDE_PX} px a side)"
        )
    return limit_size(np.ascontiguousarray(pixels), MAX_SIDE_PX)


def limit_size(image: Image, max_side: int) -> Image:
    """Downscale so the longer side is at most `max_side` (area interpolation keeps print legible)."""
    height, width = image.shape[:2]
    longest = max(height, width)
    if longest <= max_side:
        return image
    factor = max_side / longest
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def centre_crop(image: Image, fraction: float) -> Image:
    """The central `fraction` of each side: hand-held photos and loose boxes centre the product."""
    height, width = image.shape[:2]
    crop_h, crop_w = max(1, round(height * fraction)), max(1, round(width * fraction))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return image[top : top + crop_h, left : left + crop_w]


def pad_to_square(image: Image, value: int = 255) -> Image:
    """Pad to a square so a tall carton keeps its shape when the encoder resizes to a square input."""
    height, width = image.shape[:2]
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    return np.asarray(
        cv2.copyMakeBorder(
            image,
            top,
            side - height - top,
            left,
            side - width - left,
            cv2.BORDER_CONSTANT,
            value=(value,) * 3,
        ),
        dtype=np.uint8,
    )


def foreground_mask(image: Image) -> NDArray[np.uint8]:
    """Packshots sit on white: a mask of the non-background pixels (all pixels if that leaves too few)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    background = (hsv[:, :, 2] > 235) & (hsv[:, :, 1] < 20)
    mask = (~background).astype(np.uint8) * 255
    if int(np.count_nonzero(mask)) < 0.05 * mask.size:
        mask[:] = 255
    return mask


# A catalog image whose border is mostly one plain colour shows the product alone (a packshot: on white,
# grey, or the black a transparent PNG decodes to); below it, the product in a scene (a hand, a shelf,
# its neighbours: a shop photo, a frame of an episode). Measured on 64 px thumbnails with border pixels
# within PLAIN_BORDER_TOLERANCE of the border's median colour: grocery-dev's 81 packshots 0.72-1.00 (0.73
# and more with their white turned grey or black), its 296 val photos 0.00-0.15, so the bar sits far
# from both. Both figures are in the feature recipe's signature: a scene's print is not extracted.
PACKSHOT_PLAIN_BORDER = 0.45
PLAIN_BORDER_TOLERANCE = 8


def plain_border_share(image: Image) -> float:
    """Share of the image's outermost pixels that are the border's own plain colour (its median, within
    PLAIN_BORDER_TOLERANCE levels on every channel)."""
    if not image.size:
        return 0.0
    return float(plain_border_shares(border_pixels(image)[np.newaxis])[0])


def border_pixels(image: Image) -> NDArray[np.uint8]:
    """The image's outermost pixels, top, bottom, left and right edge (2 x (H + W) x 3)."""
    return np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])


def plain_border_shares(borders: NDArray[np.uint8]) -> NDArray[np.float64]:
    """`plain_border_share` of N images from their `border_pixels` (N x B x 3) at once: an index of
    10,000 images tells its packshots in ≈ 0.25 s (one at a time ≈ 60 µs an image, most of it numpy's
    per-call overhead), without stacking the images themselves."""
    if borders.shape[0] == 0 or borders.shape[1] == 0:
        return np.zeros(borders.shape[0], np.float64)
    signed = borders.astype(np.int16)
    plain = np.median(signed, axis=1, keepdims=True)
    return np.asarray((np.abs(signed - plain).max(axis=2) <= PLAIN_BORDER_TOLERANCE).mean(axis=1), np.float64)


def shows_product_alone(image: Image) -> bool:
    """Whether a catalog image (its thumbnail) is a packshot rather than a scene around the product.
    Only a packshot's keypoints are the product's print: a scene's also cover what stands beside it."""
    return image.size > 0 and plain_border_share(image) >= PACKSHOT_PLAIN_BORDER


def catalog_views(image: Image) -> list[Image]:
    """Views of a packshot that look more like what a camera sees: the whole shot, padded square, and
    slightly zoomed and rotated versions (hand-held photos are tilted and cropped by the frame)."""
    square = pad_to_square(image)
    side = square.shape[0]
    views = [image, square]
    for angle in (-12.0, 12.0):
        matrix = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.15)
        views.append(
            np.asarray(
                cv2.warpAffine(square, matrix, (side, side), borderMode=cv2.BORDER_REPLICATE), dtype=np.uint8
            )
        )
    return views


def query_crops(image: Image, fractions: tuple[float, ...]) -> list[Image]:
    """The crop itself and centre crops of it, so a loose box or a cluttered shelf photo still has a
    view dominated by the product."""
    return [image if fraction >= 1.0 else centre_crop(image, fraction) for fraction in fractions]
