"""The crop store: what tagging keeps of a placement for re-linking, read back as it was written."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tagger.crop_store import FileCropStore
from tagger.exceptions import TaggerError


def crop(value: int, size: tuple[int, int] = (24, 16)) -> np.ndarray:
    image = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    image[:, : size[0] // 2] = value
    return image


def test_saved_crops_load_back_exactly_best_first_under_the_reference_save_returned(tmp_path: Path) -> None:
    store = FileCropStore(tmp_path / "thumbs")
    rng = np.random.default_rng(0)
    # Noise, which JPEG would not keep: the linker must read back the pixels tagging linked.
    crops = [rng.integers(0, 256, (30, 24, 3), dtype=np.uint8), crop(120, (40, 30)), crop(10, (12, 12))]

    reference = store.save("placement-1", crops)
    loaded = FileCropStore.load(reference)

    assert reference == tmp_path / "thumbs" / "placement-1.jpg"  # the thumbnail the API serves
    thumbnail = cv2.imread(str(reference))
    assert thumbnail is not None
    assert thumbnail.shape == crops[0].shape
    assert len(loaded) == len(crops)
    for stored, original in zip(loaded, crops, strict=True):
        assert np.array_equal(stored, original)


def _jpeg_layout(folder: Path, key: str, crops: list[np.ndarray]) -> Path:
    """How placements were stored before the lossless crops: the thumbnail, then `-crop1.jpg`, …"""
    folder.mkdir(parents=True, exist_ok=True)
    thumbnail = folder / f"{key}.jpg"
    for number, image in enumerate(crops):
        path = thumbnail if number == 0 else folder / f"{key}-crop{number}.jpg"
        assert cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return thumbnail


def test_placements_stored_as_jpeg_before_the_lossless_crops_still_load(tmp_path: Path) -> None:
    reference = _jpeg_layout(tmp_path, "older", [crop(250), crop(120, (40, 30))])

    loaded = FileCropStore.load(reference)

    assert [image.shape for image in loaded] == [(16, 24, 3), (30, 40, 3)]
    assert np.abs(loaded[0].astype(int) - crop(250).astype(int)).mean() < 3


def test_a_placement_stored_before_several_crops_were_kept_loads_its_thumbnail_alone(tmp_path: Path) -> None:
    reference = _jpeg_layout(tmp_path, "old", [crop(200)])
    (tmp_path / "old-crop2.jpg").write_bytes(reference.read_bytes())  # a gap: crop1 is missing

    assert len(FileCropStore.load(reference)) == 1
    assert FileCropStore.load(tmp_path / "never-stored.jpg") == []


def test_unreadable_crop_files_are_skipped_and_empty_saves_refused(tmp_path: Path) -> None:
    store = FileCropStore(tmp_path)
    reference = store.save("p", [crop(200), crop(100), crop(50)])
    (tmp_path / "p-link1.png").write_bytes(b"not a png")

    assert [int(image[0, 0, 0]) for image in FileCropStore.load(reference)] == [200, 50]
    with pytest.raises(ValueError, match="at least one crop"):
        store.save("q", [])


def test_crops_written_in_the_background_are_on_disk_after_flush_and_a_failure_is_raised(
    tmp_path: Path,
) -> None:
    store = FileCropStore(tmp_path, background=True)
    crops = [crop(250), crop(120, (40, 30))]
    reference = store.save("p", crops)
    (tmp_path / "q-link1.png").mkdir()  # a crop file that cannot be written
    store.save("q", crops)

    with pytest.raises(TaggerError, match=r"could not write crop q-link1\.png"):
        store.flush()
    store.close()

    assert all(np.array_equal(a, b) for a, b in zip(FileCropStore.load(reference), crops, strict=True))
    assert len(FileCropStore.load(reference)) == 2
    store.flush()  # nothing pending: returns at once
