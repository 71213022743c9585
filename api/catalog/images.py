"""Product images we hold: validated by decoding, sized, hashed, stored under the media dir."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from api.catalog.exceptions import UnsupportedImage

_EXTENSIONS = {b"\xff\xd8\xff": ".jpg", b"\x89PNG": ".png", b"RIFF": ".webp"}
MIN_IMAGE_SIDE_PX = 16
MAX_IMAGE_SIDE_PX = 12_000


@dataclass(frozen=True, slots=True)
class StoredImage:
    path: Path
    width: int
    height: int
    sha256: str


def store_image_bytes(
    data: bytes, *, media_dir: Path, brand_id: uuid.UUID, what: str = "image"
) -> StoredImage:
    """Decode to prove it is an image, then write it; raise a 422 problem with the reason otherwise."""
    extension = next((ext for magic, ext in _EXTENSIONS.items() if data.startswith(magic)), None)
    if extension is None:
        raise UnsupportedImage(
            f"{what} is not a JPEG, PNG or WebP image",
            errors=[{"field": "file", "message": "not a JPEG, PNG or WebP image"}],
        )
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        image = None
    if image is None:
        raise UnsupportedImage(
            f"{what} does not decode (truncated or corrupt)",
            errors=[{"field": "file", "message": "image does not decode"}],
        )
    height, width = image.shape[:2]
    if min(width, height) < MIN_IMAGE_SIDE_PX or max(width, height) > MAX_IMAGE_SIDE_PX:
        raise UnsupportedImage(
            f"{what} is {width}x{height}; images must be {MIN_IMAGE_SIDE_PX}-{MAX_IMAGE_SIDE_PX} px a side",
            errors=[{"field": "file", "message": f"{width}x{height} is out of range"}],
        )
    digest = hashlib.sha256(data).hexdigest()
    folder = media_dir / "images" / str(brand_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest[:32]}{extension}"
    if not path.exists():
        temporary = path.with_suffix(path.suffix + ".part")
        temporary.write_bytes(data)
        temporary.replace(path)
    return StoredImage(path=path, width=int(width), height=int(height), sha256=digest)
