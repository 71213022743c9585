"""Catalog input: the plain dataclass callers hand to the index builder, and image sources."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tagger.arrays import Image
from tagger.linking.images import ImageProblem, check_image, decode_image
from tagger.linking.own_print import Box

ImageSource = Path | bytes | NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """One sellable SKU as the linker sees it. `images` are paths, encoded bytes or BGR arrays."""

    sku: str
    title: str
    brand: str = ""
    description: str = ""
    images: tuple[ImageSource, ...] = ()
    # Boxes on one of `images` around the print only this product has (`own_print`): auto-approval
    # then needs keypoints matched there.
    own_print: tuple[Box, ...] = ()
    # Which of `images` the boxes are on (the first by default), or None when the image they were drawn
    # on is not among them (the API holds no copy of it yet, or it was removed). Marks with no image to
    # be found on approve nothing.
    own_print_image: int | None = 0

    def text(self) -> str:
        return f"{self.title} {self.brand} {self.description}"


@dataclass(frozen=True, slots=True)
class LoadedImage:
    digest: str
    image: Image


def describe_source(source: ImageSource, position: int) -> str:
    if isinstance(source, Path):
        return str(source)
    kind = "bytes" if isinstance(source, bytes) else "array"
    return f"image #{position} ({kind})"


def load_source(source: ImageSource, position: int) -> LoadedImage | ImageProblem:
    """Decode and validate one image source; its digest is of the bytes given (content, not path), so
    a renamed file is not re-indexed and an edited one is."""
    label = describe_source(source, position)
    if isinstance(source, Path):
        try:
            data = source.read_bytes()
        except FileNotFoundError:
            return ImageProblem(label, "image file does not exist")
        except OSError as error:
            return ImageProblem(label, f"image file cannot be read: {error.strerror or error}")
        decoded = decode_image(data, label)
        digest = hashlib.sha256(data).hexdigest()
    elif isinstance(source, bytes):
        decoded = decode_image(source, label)
        digest = hashlib.sha256(source).hexdigest()
    else:
        decoded = check_image(source, label)
        raw = np.ascontiguousarray(source)
        digest = hashlib.sha256(repr(raw.shape).encode() + raw.tobytes()).hexdigest()
    if isinstance(decoded, ImageProblem):
        return decoded
    return LoadedImage(digest=digest, image=decoded)
