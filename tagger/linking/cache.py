"""A disk cache of per-image features, for evaluation and re-indexing runs that see the same images.

Keyed by (feature recipe signature, role, image content digest); a corrupt entry is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tagger.arrays import Image
from tagger.linking.features import FeatureExtractor, ImageFeatures
from tagger.linking.keypoints import KeypointDescriptors, LocalFeatures, QuantizedDescriptors


def _descriptor_arrays(descriptors: KeypointDescriptors, prefix: str) -> dict[str, NDArray[np.generic]]:
    if isinstance(descriptors, QuantizedDescriptors):  # a catalog image's, as the index keeps them
        return {
            f"{prefix}descriptor_steps": np.asarray(descriptors.steps, dtype=np.int8),
            f"{prefix}descriptor_norms": np.asarray(descriptors.squared_norms, dtype=np.int32),
        }
    # A query's. RootSIFT values lie in [0, 1]; half precision halves the file, matches are the same.
    return {f"{prefix}descriptors": descriptors.astype(np.float16)}


def _descriptors_from(arrays: dict[str, NDArray[np.generic]], prefix: str) -> KeypointDescriptors:
    if f"{prefix}descriptor_steps" in arrays:
        return QuantizedDescriptors(
            np.asarray(arrays[f"{prefix}descriptor_steps"], dtype=np.int8),
            np.asarray(arrays[f"{prefix}descriptor_norms"], dtype=np.int32),
        )
    return np.asarray(arrays[f"{prefix}descriptors"], dtype=np.float16)


def features_to_arrays(features: ImageFeatures, prefix: str = "") -> dict[str, NDArray[np.generic]]:
    return {
        f"{prefix}embeddings": features.embeddings.astype(np.float32),
        f"{prefix}colour": features.colour.astype(np.float32),
        f"{prefix}points": features.local.points.astype(np.float32),
        **_descriptor_arrays(features.local.descriptors, prefix),
        f"{prefix}words": np.asarray(json.dumps(list(features.words))),
        f"{prefix}word_points": features.word_points.astype(np.float32).reshape(-1, 2),
        f"{prefix}thumbnail": features.thumbnail.astype(np.uint8),
        f"{prefix}size": np.asarray(features.size, dtype=np.int64),
        # Cosines of normalized rows: half precision changes them by < 1e-3.
        f"{prefix}patches": features.patches.astype(np.float16),
        f"{prefix}centre_colour": features.centre_colour.astype(np.float32),
    }


def features_from_arrays(arrays: dict[str, NDArray[np.generic]], prefix: str = "") -> ImageFeatures:
    size = np.asarray(arrays[f"{prefix}size"]).tolist()
    return ImageFeatures(
        embeddings=np.asarray(arrays[f"{prefix}embeddings"], dtype=np.float32),
        colour=np.asarray(arrays[f"{prefix}colour"], dtype=np.float32),
        local=LocalFeatures(
            np.asarray(arrays[f"{prefix}points"], dtype=np.float32), _descriptors_from(arrays, prefix)
        ),
        words=tuple(json.loads(str(arrays[f"{prefix}words"]))),
        # Absent from features saved before OCR located its words: no places.
        word_points=np.asarray(
            arrays.get(f"{prefix}word_points", np.zeros((0, 2))), dtype=np.float32
        ).reshape(-1, 2),
        thumbnail=np.asarray(arrays[f"{prefix}thumbnail"], dtype=np.uint8),
        size=(int(size[0]), int(size[1])),
        patches=np.asarray(arrays[f"{prefix}patches"], dtype=np.float16),
        # Absent from indexes saved before the centre colour existed (catalog images never have one).
        centre_colour=np.asarray(arrays.get(f"{prefix}centre_colour", np.zeros(0)), dtype=np.float32),
    )


class CachedExtractor:
    """Wraps a `FeatureExtractor`, storing each image's features under `root/<signature>/<role>/`."""

    def __init__(self, extractor: FeatureExtractor, root: Path) -> None:
        self.extractor = extractor
        self._root = root / extractor.signature

    @property
    def signature(self) -> str:
        return self.extractor.signature

    def _path(self, role: str, image: Image) -> Path:
        digest = hashlib.sha256(
            repr(image.shape).encode() + np.ascontiguousarray(image).tobytes()
        ).hexdigest()
        return self._root / role / f"{digest[:32]}.npz"

    def _get(self, role: str, image: Image) -> ImageFeatures:
        path = self._path(role, image)
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as data:
                    # A query cached before OCR located its words is computed again (the print
                    # evidence reads where the words are).
                    if role == "catalog" or "word_points" in data.files:
                        return features_from_arrays(dict(data))
            except (OSError, ValueError, KeyError, zipfile.BadZipFile):
                path.unlink(missing_ok=True)
        compute = self.extractor.catalog_features if role == "catalog" else self.extractor.query_features
        features = compute(image)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **features_to_arrays(features))  # type: ignore[arg-type]
        tmp.replace(path)
        return features

    def catalog_features(self, image: Image) -> ImageFeatures:
        return self._get("catalog", image)

    def query_features(self, image: Image, *, words: tuple[str, ...] | None = None) -> ImageFeatures:
        features = self._get("query", image)
        if words is None:
            return features
        return replace(features, words=words, word_points=np.zeros((0, 2), np.float32))
