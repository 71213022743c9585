"""Where a placement's linking crops wait between tagging and a later re-link.

Tagging keeps a placement's best crops in memory and links from them; re-linking after a catalog
change has no frames left, so the same crops are stored and read back through a `CropStore`. The
store hands out a reference (for `FileCropStore`, the thumbnail's path, which the API also serves);
how the other crops are named beside it is the store's own business.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from tagger.arrays import Image
from tagger.exceptions import TaggerError

# The thumbnail is for people (the review console shows it): JPEG, small.
JPEG_QUALITY = 90
# The crops are for the linker: lossless PNG, so a re-link reads exactly the pixels tagging linked.
# Through JPEG at quality 90 the benchmark's placements re-linked 0.026 apart in confidence on average
# (up to 0.15), and 3 of 61 changed their decision with nothing in the catalog changed (BENCHMARKS.md, End
# to end). OpenCV's default PNG setting: ≈ 7 ms and ≈ 360 KiB a crop of a 1080x1920 episode, against
# JPEG's 1 ms and 50 KiB; lossless WebP would halve the bytes at 20 times the time (≈ 130 ms a crop).


class CropStore(Protocol):
    def save(self, key: str, crops: Sequence[Image]) -> Path:
        """Store `crops` (best first, at least one) under `key`; returns the best crop's file, the
        placement's thumbnail and the reference `load` takes."""
        ...

    def load(self, reference: Path) -> list[Image]:
        """The crops stored under `reference`, best first; unreadable or missing ones are skipped."""
        ...


class FileCropStore:
    """Files in one folder: `<key>.jpg`, the best crop as the thumbnail the API serves, and the crops
    the linker reads, lossless, best first: `<key>-link0.png`, `<key>-link1.png`, … Placements
    stored before the lossless crops have the JPEG layout (`<key>.jpg`, then `<key>-crop1.jpg`, …),
    which `load` still reads."""

    def __init__(self, folder: Path, *, background: bool = False) -> None:
        """With `background`, the lossless crops are written by a thread of the store's own (the tag
        job's main thread, which decodes, detects and tracks, would otherwise spend ≈ 0.5 s an episode
        encoding them); `flush` waits for them. The crops handed to `save` must not change after it."""
        self.folder = folder
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="crop-store") if background else None
        self._pending: list[Future[None]] = []

    def save(self, key: str, crops: Sequence[Image]) -> Path:
        if not crops:
            raise ValueError("a placement is stored with at least one crop")
        self.folder.mkdir(parents=True, exist_ok=True)
        thumbnail = self.folder / f"{key}.jpg"
        if not cv2.imwrite(str(thumbnail), crops[0], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise TaggerError(f"could not write crop {thumbnail.name}")
        if self._writer is None:
            self._write_lossless(thumbnail, crops)
        else:
            self._raise_failed()
            self._pending.append(self._writer.submit(self._write_lossless, thumbnail, tuple(crops)))
        return thumbnail

    def _raise_failed(self) -> None:
        """A background write that already failed stops the tag job at its next placement, not after
        the whole episode was decoded."""
        for future in self._pending:
            if future.done() and (error := future.exception()) is not None:
                raise error

    def flush(self) -> None:
        """Wait for the crops being written in the background; the first failure is raised (after all
        have finished). Without `background`, or with nothing pending, it returns at once."""
        pending, self._pending = self._pending, []
        errors = [error for future in pending if (error := future.exception()) is not None]
        if errors:
            raise errors[0]

    def close(self) -> None:
        """Stop the background writer, after the crops already handed to it (call `flush` first to
        learn whether they were written)."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)

    def _write_lossless(self, thumbnail: Path, crops: Sequence[Image]) -> None:
        for number, crop in enumerate(crops):
            path = self._linked(thumbnail, number)
            if not cv2.imwrite(str(path), crop):
                raise TaggerError(f"could not write crop {path.name}")

    @staticmethod
    def load(reference: Path) -> list[Image]:
        crops = []
        for path in FileCropStore.stored(reference):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                crops.append(np.asarray(image, dtype=np.uint8))
        return crops

    @staticmethod
    def stored(reference: Path) -> list[Path]:
        """The files of the crops stored under `reference` that exist, best first: the lossless ones,
        else (a placement stored before them) the JPEG thumbnail and the JPEG crops beside it."""
        lossless = FileCropStore._run(lambda number: FileCropStore._linked(reference, number), 0)
        if lossless:
            return lossless
        # Placements tagged before several crops were kept have the thumbnail alone.
        paths = [reference] if reference.is_file() else []
        return paths + FileCropStore._run(lambda number: FileCropStore._extra(reference, number), 1)

    @staticmethod
    def _run(path_of: Callable[[int], Path], first: int) -> list[Path]:
        """The files `path_of(first)`, `path_of(first + 1)`, … up to the first one missing."""
        paths = []
        number = first
        while (path := path_of(number)).is_file():
            paths.append(path)
            number += 1
        return paths

    @staticmethod
    def _linked(thumbnail: Path, number: int) -> Path:
        return thumbnail.with_name(f"{thumbnail.stem}-link{number}.png")

    @staticmethod
    def _extra(thumbnail: Path, number: int) -> Path:
        return thumbnail.with_name(f"{thumbnail.stem}-crop{number}{thumbnail.suffix}")
