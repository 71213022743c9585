"""The crop store: what tagging keeps of a placement for re-linking, read back as it was written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tagger.crop_store import FileCropStore


def crop(value: int, size: tuple[int, int] = (24, 16)) -> np.ndarray:
    image = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    image[:, : size[0] // 2] = value
    return image


def test_saved_crops_load_back_best_first_under_the_reference_save_returned(tmp_path: Path) -> None:
    store = FileCropStore(tmp_path / "thumbs")
    crops = [crop(250), crop(120, (40, 30)), crop(10, (12, 12))]

    reference = store.save("placement-1", crops)
    loaded = FileCropStore.load(reference)

    assert reference == tmp_path / "thumbs" / "placement-1.jpg"  # the thumbnail the API serves
    assert [image.shape for image in loaded] == [image.shape for image in crops]
    for stored, original in zip(loaded, crops, strict=True):
        assert np.abs(stored.astype(int) - original.astype(int)).mean() < 3  # JPEG, quality 90


def test_a_placement_stored_before_several_crops_were_kept_loads_its_thumbnail_alone(tmp_path: Path) -> None:
    reference = FileCropStore(tmp_path).save("old", [crop(200)])
    (tmp_path / "old-crop2.jpg").write_bytes(reference.read_bytes())  # a gap: crop1 is missing

    assert len(FileCropStore.load(reference)) == 1
    assert FileCropStore.load(tmp_path / "never-stored.jpg") == []


def test_unreadable_crop_files_are_skipped_and_empty_saves_refused(tmp_path: Path) -> None:
    store = FileCropStore(tmp_path)
    reference = store.save("p", [crop(200), crop(100)])
    (tmp_path / "p-crop1.jpg").write_bytes(b"not a jpeg")

    assert len(FileCropStore.load(reference)) == 1
    with pytest.raises(ValueError, match="at least one crop"):
        store.save("q", [])
