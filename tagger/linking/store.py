"""Persisting catalog indexes. `IndexStore` is the seam the API implements over its database/blob
store; `FileIndexStore` keeps each version in its own directory (arrays.npz + meta.json) and a
CURRENT file naming the one in use, so a worker can keep reading an old version while a new one lands.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tagger.linking.cache import features_from_arrays, features_to_arrays
from tagger.linking.errors import IndexStoreError
from tagger.linking.index import CatalogIndex, IndexedProduct, SkippedImage

FORMAT_VERSION = 2  # 2: per-image patch descriptors


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
            }
            for p in index.products
        ],
        "skipped": [{"sku": s.sku, "source": s.source, "reason": s.reason} for s in index.skipped],
        "image_digests": digests,
    }


class FileIndexStore:
    """Directory-backed store: `<root>/<version>/{arrays.npz,meta.json}` and `<root>/CURRENT`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, index: CatalogIndex) -> str:
        target = self.root / index.version
        if not (target / "meta.json").is_file():
            staging = self.root / f".{index.version}.partial"
            staging.mkdir(parents=True, exist_ok=True)
            digests = sorted(index.image_features)
            arrays: dict[str, Any] = {}
            for position, digest in enumerate(digests):
                arrays.update(features_to_arrays(index.image_features[digest], prefix=f"{position}/"))
            np.savez_compressed(staging / "arrays.npz", **arrays)
            (staging / "meta.json").write_text(json.dumps(_meta(index, digests)), encoding="utf-8")
            os.replace(staging, target)
        current = self.root / "CURRENT.tmp"
        current.write_text(index.version, encoding="utf-8")
        current.replace(self.root / "CURRENT")
        return index.version

    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(entry.name for entry in self.root.iterdir() if (entry / "meta.json").is_file())

    def prune(self, keep: int = 3) -> list[str]:
        """Delete all but the `keep` most recently saved versions (never the current one); returns the
        deleted versions. Each catalog change saves a whole new version (≈ 1 GB at 10,000 SKUs), so
        without pruning a busy catalog fills the disk. Placements keep naming the version that linked
        them; that label does not need the arrays. A worker that loaded an old version holds it in
        memory, so deleting its directory does not disturb it."""
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
            if meta.get("format") != FORMAT_VERSION:
                raise IndexStoreError(
                    f"index {version} has format {meta.get('format')}, this code reads {FORMAT_VERSION}; "
                    "rebuild it",
                    location=str(folder),
                )
            with np.load(folder / "arrays.npz", allow_pickle=False) as data:
                arrays = dict(data)
            features = {
                digest: features_from_arrays(arrays, prefix=f"{position}/")
                for position, digest in enumerate(meta["image_digests"])
            }
            index = CatalogIndex(
                products=tuple(
                    IndexedProduct(p["sku"], p["title"], p["brand"], p["description"], tuple(p["images"]))
                    for p in meta["products"]
                ),
                image_features=features,
                feature_signature=meta["feature_signature"],
                skipped=tuple(SkippedImage(s["sku"], s["source"], s["reason"]) for s in meta["skipped"]),
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
