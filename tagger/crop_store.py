"""Where a placement's linking crops wait between tagging and a later re-link.

Tagging keeps a placement's best crops in memory and links from them; re-linking after a catalog
change has no frames left, so the same crops are stored and read back through a `CropStore`. The
store hands out a reference (for `FileCropStore`, the thumbnail's path, which the API also serves);
how the other crops are named beside it is the store's own business.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from tagger.arrays import Image
from tagger.exceptions import TaggerError

JPEG_QUALITY = 90


class CropStore(Protocol):
    def save(self, key: str, crops: Sequence[Image]) -> Path:
        """Store `crops` (best first, at least one) under `key`; returns the best crop's file, the
        placement's thumbnail and the reference `load` takes."""
        ...

    def load(self, reference: Path) -> list[Image]:
        """The crops stored under `reference`, best first; unreadable or missing ones are skipped."""
        ...


class FileCropStore:
    """JPEG files in one folder: `<key>.jpg` (the best crop, also the thumbnail), then
    `<key>-crop1.jpg`, `<key>-crop2.jpg`, …"""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def save(self, key: str, crops: Sequence[Image]) -> Path:
        if not crops:
            raise ValueError("a placement is stored with at least one crop")
        self.folder.mkdir(parents=True, exist_ok=True)
        thumbnail = self.folder / f"{key}.jpg"
        for path, crop in zip(self._paths(thumbnail, len(crops)), crops, strict=True):
            if not cv2.imwrite(str(path), crop, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                raise TaggerError(f"could not write crop {path.name}")
        return thumbnail

    @staticmethod
    def load(reference: Path) -> list[Image]:
        crops = []
        # Placements tagged before several crops were kept have the thumbnail alone.
        for path in FileCropStore.stored(reference):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                crops.append(np.asarray(image, dtype=np.uint8))
        return crops

    @staticmethod
    def stored(reference: Path) -> list[Path]:
        """The files of the crops stored under `reference` that exist, best first."""
        paths = [reference] if reference.is_file() else []
        number = 1
        while (extra := FileCropStore._extra(reference, number)).is_file():
            paths.append(extra)
            number += 1
        return paths

    @staticmethod
    def _paths(thumbnail: Path, count: int) -> list[Path]:
        return [thumbnail, *(FileCropStore._extra(thumbnail, n) for n in range(1, count))]

    @staticmethod
    def _extra(thumbnail: Path, number: int) -> Path:
        return thumbnail.with_name(f"{thumbnail.stem}-crop{number}{thumbnail.suffix}")
