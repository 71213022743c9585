"""Persisting catalog indexes. `IndexStore` is the seam the API implements over its database/blob
store; `FileIndexStore` keeps each version in its own directory and a CURRENT file naming the one in
use, so a worker can keep reading an old version while a new one lands.

Format 3 stores each per-image field of all images as one uncompressed `.npy` (rows concatenated in
`meta.json`'s image order, with offsets), so loading memory-maps the big ones: keypoint descriptors
and patch cells are ≈ 90 % of an index (≈ 2 GB at 10,000 SKUs) and a crop touches only its
shortlist's rows, so each process holds what it reads and processes share the page cache. Format 4
keeps the keypoint descriptors quantized for matching (int8 steps and their int32 squared lengths,
half the bytes of format 3's float16, and no quantizing per match). Formats 2 (one compressed
`arrays.npz`) and 3 are still read; their descriptors are quantized when they are matched, with the
same result.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from tagger.linking.cache import features_from_arrays
from tagger.linking.errors import IndexStoreError
from tagger.linking.features import ImageFeatures
from tagger.linking.index import CatalogIndex, IndexedProduct, SkippedImage
from tagger.linking.keypoints import LocalFeatures, QuantizedDescriptors
from tagger.linking.own_print import Box, OwnPrintError, check_boxes
from tagger.linking.print_shortlist import PrintShortlist, shortlist_of

# 2: per-image patch descriptors, one compressed npz; 3: memory-mappable .npy files; 4: quantized
# keypoint descriptors.
FORMAT_VERSION = 4
READABLE_FORMATS = (2, 3, 4)
# Field → (dtype it is stored in, memory-mapped when loading). Rows of all images are concatenated.
_ROW_FIELDS: dict[str, tuple[type[np.generic], bool]] = {
    "embeddings": (np.float32, True),  # search reads them in place (`CatalogIndex.views`)
    "points": (np.float32, True),
    "descriptors": (np.int8, True),
    "descriptor_norms": (np.int32, True),
    "patches": (np.float16, True),
}
# The print shortlist's tree and entries (format 4 indexes saved since it exists; optional).
SHORTLIST_FOLDER = "print_shortlist"
# Format 3 kept float16 descriptors and no norms.
_FORMAT_3_ROW_FIELDS = {
    name: ((np.float16, True) if name == "descriptors" else spec)
    for name, spec in _ROW_FIELDS.items()
    if name != "descriptor_norms"
}


class IndexStore(Protocol):
    def save(self, index: CatalogIndex) -> str:
        """Persist `index`, make it current, return its version."""
        ...

    def load(self, version: str | None = None) -> CatalogIndex:
        """The given version, or the current one."""
        ...

    def versions(self) -> list[str]: ...


def _meta(index: CatalogIndex, digests: list[str]) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "version": index.version,
        "feature_signature": index.feature_signature,
        "products": [
            {
                "sku": p.sku,
                "title": p.title,
                "brand": p.brand,
                "description": p.description,
                "images": list(p.image_digests),
                **(
                    {"own_print": [list(box) for box in p.own_print], "own_print_image": p.own_print_digest}
                    if p.own_print
                    else {}
                ),
            }
            for p in index.products
        ],
        "skipped": [{"sku": s.sku, "source": s.source, "reason": s.reason} for s in index.skipped],
        "image_digests": digests,
    }


def _stored_marks(product: dict[str, Any], folder: Path) -> tuple[Box, ...]:
    try:
        return check_boxes(product.get("own_print", ()))
    except (OwnPrintError, TypeError, ValueError) as error:
        raise IndexStoreError(
            f"index at {folder} is corrupt: {product.get('sku')!r}'s own_print: {error}", location=str(folder)
        ) from error


# A save's staging folder (`.<version>.<random>.partial`), and how old one must be to be a dead writer's.
PARTIAL_SUFFIX = ".partial"
ABANDONED_PARTIAL_S = 24 * 3600


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename the finished staging folder to the version's; another writer's finished copy already
    there is the same version (its name is its content's hash), so ours is dropped."""
    try:
        os.replace(staging, target)
    except OSError:
        if not (target / "meta.json").is_file():
            raise


def _write_atomically(path: Path, text: str) -> None:
    """`path` holds `text` or what it held before, never half of it, whoever else writes it at once."""
    # (A name of its own, not mkstemp's file: that would be owner-only, unreadable to other users.)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class FileIndexStore:
    """Directory-backed store: `<root>/<version>/{arrays.npz,meta.json}` and `<root>/CURRENT`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, index: CatalogIndex) -> str:
        """Store the index as its version and make it the current one. Several processes may save one
        version at once (two workers building a brand's new index for a tag job and a link job): each
        writes its own staging folder and the first to rename it into place wins; the others find the
        version there and drop their copy."""
        target = self.root / index.version
        if not (target / "meta.json").is_file():
            self.root.mkdir(parents=True, exist_ok=True)
            # A name of its own (mkdtemp's would also make it owner-only: workers under another user
            # could not read the version it becomes).
            staging = self.root / f".{index.version}.{uuid.uuid4().hex}{PARTIAL_SUFFIX}"
            staging.mkdir()
            try:
                digests = sorted(index.image_features)
                images = [index.image_features[digest] for digest in digests]
                meta = _meta(index, digests)
                meta["words"] = [list(item.words) for item in images]
                _write_arrays(staging, images)
                # Derived from the descriptors just written (same image order): the whole-frame print
                # search's vote, kept here so every process maps it instead of building its own.
                shortlist_of(index).save(staging / SHORTLIST_FOLDER)
                (staging / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
                _move_into_place(staging, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        _write_atomically(self.root / "CURRENT", index.version)
        return index.version

    def current(self) -> str | None:
        """The current version's name, without loading it; None when nothing was saved."""
        try:
            return (self.root / "CURRENT").read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        # (Not a staging folder, hidden, which holds its meta.json for a moment before its rename.)
        return sorted(
            entry.name
            for entry in self.root.iterdir()
            if not entry.name.startswith(".") and (entry / "meta.json").is_file()
        )

    def prune(self, keep: int = 3) -> list[str]:
        """Delete all but the `keep` most recently saved versions (never the current one); returns the
        deleted versions. Each catalog change saves a whole new version (≈ 1 GB at 10,000 SKUs), so
        without pruning a busy catalog fills the disk. Placements keep naming the version that linked
        them; that label does not need the arrays. A worker still reading an old version keeps its
        memory-mapped files until it lets go of that index (POSIX keeps unlinked files alive)."""
        if keep < 1:
            raise ValueError(f"keep at least one index version, got {keep}")
        try:
            current = (self.root / "CURRENT").read_text(encoding="utf-8").strip()
        except OSError:
            current = None
        saved = sorted(
            self.versions(),
            key=lambda version: (self.root / version / "meta.json").stat().st_mtime,
            reverse=True,
        )
        doomed = [version for version in saved[keep:] if version != current]
        for version in doomed:
            shutil.rmtree(self.root / version, ignore_errors=True)
        # A writer that died mid-save leaves its staging folder; one still writing is younger than this.
        cutoff = time.time() - ABANDONED_PARTIAL_S
        for partial in self.root.glob(f".*{PARTIAL_SUFFIX}"):
            if partial.is_dir() and partial.stat().st_mtime < cutoff:
                shutil.rmtree(partial, ignore_errors=True)
        return doomed

    def load(self, version: str | None = None) -> CatalogIndex:
        if version is None:
            try:
                version = (self.root / "CURRENT").read_text(encoding="utf-8").strip()
            except OSError as error:
                raise IndexStoreError(
                    "no catalog index has been saved yet", location=str(self.root)
                ) from error
        folder = self.root / version
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            if meta.get("format") not in READABLE_FORMATS:
                raise IndexStoreError(
                    f"index {version} has format {meta.get('format')}, this code reads {READABLE_FORMATS}; "
                    "rebuild it",
                    location=str(folder),
                )
            digests = meta["image_digests"]
            if meta["format"] == 2:
                with np.load(folder / "arrays.npz", allow_pickle=False) as data:
                    arrays = dict(data)
                features = {
                    digest: features_from_arrays(arrays, prefix=f"{position}/")
                    for position, digest in enumerate(digests)
                }
            else:
                fields = _ROW_FIELDS if meta["format"] == FORMAT_VERSION else _FORMAT_3_ROW_FIELDS
                features = dict(zip(digests, _read_arrays(folder, meta["words"], fields), strict=True))
            index = CatalogIndex(
                products=tuple(
                    IndexedProduct(
                        p["sku"],
                        p["title"],
                        p["brand"],
                        p["description"],
                        tuple(p["images"]),
                        _stored_marks(p, folder),
                        p.get("own_print_image", ""),
                    )
                    for p in meta["products"]
                ),
                image_features=features,
                feature_signature=meta["feature_signature"],
                skipped=tuple(SkippedImage(s["sku"], s["source"], s["reason"]) for s in meta["skipped"]),
                print_shortlist=(
                    _saved_shortlist(folder, len(meta["products"]))
                    if meta["format"] == FORMAT_VERSION
                    else None
                ),
            )
        except IndexStoreError:
            raise
        except FileNotFoundError as error:
            raise IndexStoreError(f"catalog index {version} does not exist", location=str(folder)) from error
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
            raise IndexStoreError(
                f"catalog index {version} is corrupt: {error}", location=str(folder)
            ) from error
        if index.version != meta["version"]:
            raise IndexStoreError(
                f"catalog index {version} does not match its recorded version {meta['version']}",
                location=str(folder),
            )
        return index


def _saved_shortlist(folder: Path, rows: int) -> PrintShortlist | None:
    """The saved print shortlist over the memory-mapped descriptor column; None when the index was
    saved without one (it is then built on first use). Raises ValueError (a corrupt index) when its
    files are there but broken."""
    if not (folder / SHORTLIST_FOLDER).exists():
        return None
    steps = np.load(folder / "descriptors.npy", mmap_mode="r", allow_pickle=False)
    norms = np.load(folder / "descriptor_norms.npy", mmap_mode="r", allow_pickle=False).reshape(-1)
    return PrintShortlist.load(folder / SHORTLIST_FOLDER, steps, norms, rows)


def _offsets(counts: list[int]) -> NDArray[np.int64]:
    return np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64)


def _quantized(local: LocalFeatures) -> QuantizedDescriptors:
    descriptors = local.compact().descriptors
    assert isinstance(descriptors, QuantizedDescriptors)  # what `compact` returns
    return descriptors


def _write_arrays(folder: Path, images: list[ImageFeatures]) -> None:
    quantized = [_quantized(item.local) for item in images]
    columns: dict[str, list[NDArray[Any]]] = {
        "embeddings": [item.embeddings for item in images],
        "points": [item.local.points for item in images],
        "descriptors": [item.steps for item in quantized],
        "descriptor_norms": [item.squared_norms.reshape(-1, 1) for item in quantized],
        "patches": [item.patches for item in images],
    }
    for name, parts in columns.items():
        dtype = _ROW_FIELDS[name][0]
        # An empty part keeps its width ((0, 128) descriptors of an image with no keypoints, such as a
        # scene): a catalog whose images all have none still saves 128-wide descriptors, as its print
        # shortlist expects. Only a missing field ((0, 0) patches without a patch encoder) has none.
        width = max((part.shape[1] for part in parts if part.ndim == 2), default=0)
        rows = [
            np.asarray(part, dtype=dtype).reshape(-1, width) if part.size else np.zeros((0, width), dtype)
            for part in parts
        ]
        np.save(folder / f"{name}.npy", np.concatenate(rows) if rows else np.zeros((0, width), dtype))
        np.save(folder / f"{name}_offsets.npy", _offsets([part.shape[0] for part in rows]))
    np.save(folder / "colours.npy", np.stack([item.colour for item in images]).astype(np.float32))
    np.save(folder / "sizes.npy", np.array([item.size for item in images], dtype=np.int64).reshape(-1, 2))
    thumbnails = [np.ascontiguousarray(item.thumbnail, dtype=np.uint8) for item in images]
    np.save(
        folder / "thumbnail_shapes.npy",
        np.array([t.shape for t in thumbnails], dtype=np.int64).reshape(-1, 3),
    )
    np.save(
        folder / "thumbnails.npy",
        np.concatenate([t.ravel() for t in thumbnails]) if thumbnails else np.zeros(0, np.uint8),
    )


def _read_arrays(
    folder: Path, words: list[list[str]], fields: dict[str, tuple[type[np.generic], bool]]
) -> list[ImageFeatures]:
    """Per-image features as views into the (memory-mapped where large) column files."""
    columns = {
        name: (
            np.load(folder / f"{name}.npy", mmap_mode="r" if mapped else None, allow_pickle=False),
            np.load(folder / f"{name}_offsets.npy", allow_pickle=False),
        )
        for name, (_, mapped) in fields.items()
    }
    for name, (dtype, _) in fields.items():
        if columns[name][0].dtype != dtype:
            raise ValueError(f"{name} holds {columns[name][0].dtype}, not {np.dtype(dtype)}")
    colours = np.load(folder / "colours.npy", allow_pickle=False)
    sizes = np.load(folder / "sizes.npy", allow_pickle=False)
    shapes = np.load(folder / "thumbnail_shapes.npy", allow_pickle=False)
    thumbnails = np.load(folder / "thumbnails.npy", mmap_mode="r", allow_pickle=False)
    thumbnail_offsets = _offsets([int(np.prod(shape)) for shape in shapes])
    count = len(words)
    for name, (values, offsets) in columns.items():
        if offsets.shape != (count + 1,) or int(offsets[-1]) != values.shape[0]:
            raise ValueError(f"{name}: {values.shape[0]} rows do not match the offsets of {count} images")
    if colours.shape[0] != count or sizes.shape[0] != count or shapes.shape[0] != count:
        raise ValueError(f"per-image arrays do not hold {count} images")
    if int(thumbnail_offsets[-1]) != thumbnails.shape[0]:
        raise ValueError("thumbnails do not match their shapes")

    def rows(name: str, position: int) -> NDArray[Any]:
        values, offsets = columns[name]
        view: NDArray[Any] = values[int(offsets[position]) : int(offsets[position + 1])]
        return view

    return [
        ImageFeatures(
            embeddings=np.asarray(rows("embeddings", position), dtype=np.float32),
            colour=np.asarray(colours[position], dtype=np.float32),
            local=LocalFeatures(rows("points", position), _descriptors(rows, position, fields)),
            words=tuple(words[position]),
            thumbnail=thumbnails[
                int(thumbnail_offsets[position]) : int(thumbnail_offsets[position + 1])
            ].reshape(tuple(int(side) for side in shapes[position])),
            size=(int(sizes[position][0]), int(sizes[position][1])),
            patches=rows("patches", position),
        )
        for position in range(count)
    ]


def _descriptors(
    rows: Callable[[str, int], NDArray[Any]], position: int, fields: dict[str, tuple[type[np.generic], bool]]
) -> NDArray[np.float16] | QuantizedDescriptors:
    steps = rows("descriptors", position)
    if "descriptor_norms" not in fields:
        return steps  # format 3: float16, quantized when matched
    return QuantizedDescriptors(steps, rows("descriptor_norms", position).reshape(-1))
