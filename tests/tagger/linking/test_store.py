"""File-backed index store: round trip, current version, refusal of missing or corrupt indexes."""

from __future__ import annotations

import dataclasses
import json
import mmap
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tagger.linking import store as store_module
from tagger.linking.cache import features_to_arrays
from tagger.linking.errors import IndexStoreError
from tagger.linking.fusion import FusionModel
from tagger.linking.index import build_catalog_index
from tagger.linking.keypoints import QuantizedDescriptors
from tagger.linking.linker import Linker
from tagger.linking.store import FileIndexStore
from tests.tagger.linking.factories import catalog, extractor, packshot, photo_of, scene_around


def test_saved_index_loads_back_identical(tmp_path: Path) -> None:
    items = catalog(3)
    items[1] = dataclasses.replace(items[1], own_print=((0.2, 0.5, 0.8, 0.95),))
    index = build_catalog_index(items, extractor())
    store = FileIndexStore(tmp_path / "indexes")

    version = store.save(index)
    loaded = store.load()

    assert version == index.version == loaded.version
    assert loaded.products == index.products
    assert loaded.products[1].own_print == ((0.2, 0.5, 0.8, 0.95),)
    assert loaded.documents == index.documents
    for row in range(len(index)):
        np.testing.assert_array_equal(np.concatenate(loaded.views(row)), np.concatenate(index.views(row)))
    np.testing.assert_array_equal(loaded.centroids, index.centroids)
    loaded_descriptors = loaded.local_features(1)[0].descriptors
    built_descriptors = index.local_features(1)[0].descriptors
    assert isinstance(loaded_descriptors, QuantizedDescriptors)
    assert isinstance(built_descriptors, QuantizedDescriptors)
    np.testing.assert_array_equal(loaded_descriptors.steps, built_descriptors.steps)
    np.testing.assert_array_equal(loaded_descriptors.squared_norms, built_descriptors.squared_norms)
    assert store.versions() == [version]


def _mapped(array: np.ndarray) -> bool:
    """Whether the array's memory is the file's (a view of a memory map, however many views down)."""
    base: object = array
    while isinstance(base, np.ndarray):
        if isinstance(base, np.memmap):
            return True
        base = base.base
    return isinstance(base, mmap.mmap)


def test_large_arrays_are_memory_mapped_not_read_into_memory(tmp_path: Path) -> None:
    store = FileIndexStore(tmp_path)
    loaded = store.load(store.save(build_catalog_index(catalog(3), extractor())))
    image = next(iter(loaded.image_features.values()))

    descriptors = image.local.descriptors
    assert isinstance(descriptors, QuantizedDescriptors)
    assert isinstance(descriptors.steps, np.memmap)  # (the test extractor computes no patch cells)
    # Search reads each image's views where they are mapped: the index holds no copy of them.
    assert all(_mapped(views) for row in range(len(loaded)) for views in loaded.views(row))
    assert not isinstance(loaded.centroids, np.memmap)


def test_an_index_saved_in_format_2_still_loads(tmp_path: Path) -> None:
    index = build_catalog_index(catalog(3), extractor())
    store = FileIndexStore(tmp_path)
    folder = tmp_path / store.save(index)
    meta = json.loads((folder / "meta.json").read_text())
    arrays: dict[str, Any] = {}
    for position, digest in enumerate(meta["image_digests"]):
        arrays.update(features_to_arrays(index.image_features[digest], prefix=f"{position}/"))
    for written in folder.glob("*.npy"):
        written.unlink()
    np.savez_compressed(folder / "arrays.npz", **arrays)
    (folder / "meta.json").write_text(json.dumps({**meta, "format": 2, "words": None}))

    loaded = store.load()

    assert (loaded.version, loaded.documents) == (index.version, index.documents)
    np.testing.assert_array_equal(loaded.centroids, index.centroids)


def test_current_follows_the_latest_save_and_old_versions_stay_readable(tmp_path: Path) -> None:
    store = FileIndexStore(tmp_path)
    old = build_catalog_index(catalog(2), extractor())
    new = build_catalog_index(catalog(3), extractor())

    store.save(old)
    store.save(new)

    assert store.load().version == new.version
    assert store.load(old.version).skus == old.skus
    assert store.versions() == sorted([old.version, new.version])


def test_pruning_keeps_the_newest_versions_and_always_the_current_one(tmp_path: Path) -> None:
    store = FileIndexStore(tmp_path)
    versions = [store.save(build_catalog_index(catalog(size), extractor())) for size in (2, 3, 4, 5)]
    for age, version in enumerate(reversed(versions)):  # the last saved is the newest
        stamp = 1_700_000_000 - 60 * age
        os.utime(tmp_path / version / "meta.json", (stamp, stamp))
    (tmp_path / "CURRENT").write_text(versions[0])  # an operator rolled back to the oldest

    deleted = store.prune(keep=2)

    assert sorted(deleted) == sorted(versions[1:2])
    assert store.versions() == sorted([versions[0], versions[2], versions[3]])
    assert store.load().version == versions[0]
    assert store.prune(keep=2) == []
    with pytest.raises(ValueError, match="keep at least one"):
        store.prune(keep=0)


def test_two_writers_saving_one_version_at_once_both_succeed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two processes (here threads, each with its own store) building a brand's new index for a tag
    # job and a link job, both mid-write when the other renames its copy into place
    index = build_catalog_index(catalog(3), extractor())
    both_writing = threading.Barrier(2, timeout=10)
    write_arrays = store_module._write_arrays

    def in_step(folder: Path, images: Any) -> None:
        write_arrays(folder, images)
        both_writing.wait()

    monkeypatch.setattr(store_module, "_write_arrays", in_step)
    with ThreadPoolExecutor(max_workers=2) as pool:
        saved = list(pool.map(lambda _: FileIndexStore(tmp_path).save(index), range(2)))

    # Then both saves answer the version (one used to fail on the other's staging folder or rename),
    # one copy is stored, it loads, and no staging folder is left behind
    assert saved == [index.version, index.version]
    assert FileIndexStore(tmp_path).versions() == [index.version]
    assert FileIndexStore(tmp_path).load().skus == index.skus
    assert sorted(entry.name for entry in tmp_path.iterdir()) == sorted(["CURRENT", index.version])


def test_pruning_removes_a_dead_writers_staging_folder_but_not_a_live_one(tmp_path: Path) -> None:
    store = FileIndexStore(tmp_path)
    store.save(build_catalog_index(catalog(2), extractor()))
    dead, live = tmp_path / ".abc.x1.partial", tmp_path / ".abc.x2.partial"
    for folder in (dead, live):
        folder.mkdir()
        (folder / "meta.json").write_text("{}")  # a staging folder is never a version
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(dead, (two_days_ago, two_days_ago))

    store.prune(keep=1)

    assert (dead.exists(), live.exists()) == (False, True)
    assert len(store.versions()) == 1


def test_loading_before_any_save_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IndexStoreError, match="no catalog index has been saved yet"):
        FileIndexStore(tmp_path).load()


def test_unknown_version_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IndexStoreError, match="catalog index deadbeef does not exist"):
        FileIndexStore(tmp_path).load("deadbeef")


def test_corrupt_arrays_are_refused(tmp_path: Path) -> None:
    store = FileIndexStore(tmp_path)
    version = store.save(build_catalog_index(catalog(2), extractor()))
    (tmp_path / version / "descriptors.npy").write_bytes(b"garbage")

    with pytest.raises(IndexStoreError, match=f"catalog index {version} is corrupt"):
        store.load()


def test_linking_from_a_loaded_index_gives_the_same_answer(tmp_path: Path) -> None:
    index = build_catalog_index(catalog(4), extractor())
    loaded = FileIndexStore(tmp_path).load(FileIndexStore(tmp_path).save(index))
    model = FusionModel((3.0, 1.0, 1.0, 0.5, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0), 6.0)
    photo = photo_of(packshot(1))

    fresh = Linker(index, extractor(), model).link_track([photo])
    reloaded = Linker(loaded, extractor(), model).link_track([photo])

    assert reloaded == fresh


def test_a_catalog_of_scenes_alone_saves_loads_and_links_the_same(tmp_path: Path) -> None:
    # A scene has no keypoints, so no image of this catalog has any: its descriptors are still saved
    # 128 wide, as the print shortlist saved beside them expects.
    items = [
        dataclasses.replace(item, images=(scene_around(packshot(seed), seed=seed),))
        for seed, item in enumerate(catalog(3))
    ]
    index = build_catalog_index(items, extractor())
    assert not index.packshot_digests
    store = FileIndexStore(tmp_path)
    model = FusionModel((3.0, 1.0, 1.0, 0.5, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0), 6.0)
    photo = photo_of(packshot(1))

    loaded = store.load(store.save(index))

    assert loaded.version == index.version
    assert Linker(loaded, extractor(), model).link_track([photo]) == Linker(
        index, extractor(), model
    ).link_track([photo])


def _rewrite_as_format_3(folder: Path) -> None:
    """What format 3 wrote: float16 descriptors (the values the steps were quantized from) and no norms."""
    steps = np.load(folder / "descriptors.npy")
    np.save(folder / "descriptors.npy", (steps.astype(np.float32) / 127).astype(np.float16))
    for name in ("descriptor_norms.npy", "descriptor_norms_offsets.npy"):
        (folder / name).unlink()
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "format": 3}))


def test_an_index_saved_in_format_3_still_loads_and_links_the_same(tmp_path: Path) -> None:
    index = build_catalog_index(catalog(4), extractor())
    store = FileIndexStore(tmp_path)
    version = store.save(index)
    _rewrite_as_format_3(tmp_path / version)
    model = FusionModel((3.0, 1.0, 1.0, 0.5, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0), 6.0)
    photo = photo_of(packshot(2))

    loaded = store.load()

    descriptors = loaded.local_features(0)[0].descriptors
    assert not isinstance(descriptors, QuantizedDescriptors)
    assert descriptors.dtype == np.float16  # quantized when it is matched
    assert Linker(loaded, extractor(), model).link_track([photo]) == Linker(
        index, extractor(), model
    ).link_track([photo])


def test_descriptors_of_the_wrong_type_are_refused_as_corrupt(tmp_path: Path) -> None:
    store = FileIndexStore(tmp_path)
    version = store.save(build_catalog_index(catalog(2), extractor()))
    steps = np.load(tmp_path / version / "descriptors.npy")
    np.save(tmp_path / version / "descriptors.npy", steps.astype(np.float32))

    with pytest.raises(IndexStoreError, match="descriptors holds float32, not int8"):
        store.load()


def test_a_saved_version_is_as_readable_as_any_file_the_process_writes(tmp_path: Path) -> None:
    # Workers and the API may run as different users sharing the index folder: a version and CURRENT
    # follow the umask (a private temporary folder renamed into place would be owner-only)
    previous = os.umask(0o022)
    try:
        version = FileIndexStore(tmp_path).save(build_catalog_index(catalog(2), extractor()))
    finally:
        os.umask(previous)

    assert (tmp_path / version).stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "CURRENT").stat().st_mode & 0o777 == 0o644
