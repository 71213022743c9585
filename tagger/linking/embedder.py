"""Image embeddings for linking: a two-method backend over any ONNX encoder described by a card.

Preprocessing and pooling are pure functions (tested alone); onnxruntime is imported lazily here and
nowhere else in linking, so building or loading an index with a fake embedder never loads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from tagger.arrays import FloatArray, Image
from tagger.exceptions import ModelError
from tagger.linking.card import EmbedderCard, load_embedder_card, verified_model_file
from tagger.linking.patches import cells, patch_input_size
from tagger.onnx_graph import free_image_size


class ImageEmbedder(Protocol):
    """Turns BGR uint8 images into L2-normalized float32 vectors, one row per image."""

    @property
    def name(self) -> str:
        """Identifies the model and its preprocessing; part of the index version."""
        ...

    def embed(self, images: Sequence[Image]) -> FloatArray: ...


def preprocess(
    images: Sequence[Image], card: EmbedderCard, size: tuple[int, int] | None = None
) -> FloatArray:
    """BGR uint8 images → Nx3xHxW float32 as the card asks (resize, channel order, scale, mean/std);
    `size` (width, height) overrides the card's input size."""
    width, height = size or (card.width, card.height)
    batch = np.empty((len(images), 3, height, width), dtype=np.float32)
    mean = np.asarray(card.mean, dtype=np.float32).reshape(3, 1, 1)
    std = np.asarray(card.std, dtype=np.float32).reshape(3, 1, 1)
    for row, image in enumerate(images):
        resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        if card.rgb:
            resized = resized[:, :, ::-1]
        chw = resized.transpose(2, 0, 1).astype(np.float32) * np.float32(card.scale)
        batch[row] = (chw - mean) / std
    return batch


def pool(output: FloatArray, card: EmbedderCard) -> FloatArray:
    """Model output → NxD L2-normalized vectors; NCHW maps are pooled as the card says."""
    if card.feature_map:
        if output.ndim != 4:
            raise ModelError(f"embedder {card.name}: expected an NCHW output, got shape {output.shape}")
        if card.pooling == "gem":
            # GeM: a soft max over positions, so a logo that fills a few cells is not averaged away.
            clipped = np.maximum(output, 1e-6)
            vectors = np.power(np.power(clipped, card.gem_p).mean(axis=(2, 3)), 1.0 / card.gem_p)
        elif card.pooling == "max":
            vectors = output.max(axis=(2, 3))
        else:
            vectors = output.mean(axis=(2, 3))
    else:
        if output.ndim != 2:
            raise ModelError(f"embedder {card.name}: expected an NC output, got shape {output.shape}")
        vectors = output
    vectors = vectors.astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


class PatchEncoder(Protocol):
    """Local descriptors of one image: a PxC L2-normalized row per feature-map cell."""

    @property
    def name(self) -> str: ...

    def patches(self, image: Image, mask: NDArray[np.uint8] | None = None) -> FloatArray: ...


class OnnxEmbedder:
    """ONNX Runtime image encoder configured by its model card."""

    def __init__(
        self, card: EmbedderCard, model_path: Path, *, threads: int = 1, batch_size: int = 16
    ) -> None:
        import onnxruntime as ort  # noqa: PLC0415 - keep the runtime out of `import tagger.linking`

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # With a [patches] table the graph also exposes that intermediate map and takes any image
        # size (the pooled embedding still runs at the card's fixed size).
        graph: str | bytes = (
            free_image_size(model_path, extra_outputs=[card.patch_output])
            if card.patch_output
            else str(model_path)
        )
        self._session: Any = ort.InferenceSession(
            graph, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._card = card
        self._batch_size = batch_size

    @classmethod
    def from_card(cls, card_path: Path, model_dir: Path, *, threads: int = 1) -> OnnxEmbedder:
        card = load_embedder_card(card_path)
        return cls(card, verified_model_file(card, model_dir), threads=threads)

    @property
    def name(self) -> str:
        patches = (
            f"/patches:{self._card.patch_output}@{self._card.patch_side}" if self._card.patch_output else ""
        )
        return f"{self._card.name}@{self._card.sha256[:12]}/{self._card.pooling}{patches}"

    @property
    def has_patches(self) -> bool:
        return self._card.patch_output is not None

    @property
    def dim(self) -> int:
        return self._card.dim

    def embed(self, images: Sequence[Image]) -> FloatArray:
        if not images:
            return np.zeros((0, self._card.dim), dtype=np.float32)
        chunks = []
        for start in range(0, len(images), self._batch_size):
            batch = preprocess(images[start : start + self._batch_size], self._card)
            (output,) = self._session.run([self._card.output_name], {self._card.input_name: batch})
            chunks.append(pool(np.asarray(output, dtype=np.float32), self._card))
        return np.concatenate(chunks, axis=0)

    def patches(self, image: Image, mask: NDArray[np.uint8] | None = None) -> FloatArray:
        """The card's intermediate map of `image` (aspect kept), one normalized row per cell."""
        card = self._card
        if card.patch_output is None:
            raise ModelError(f"embedder {card.name}: its card has no [patches] table")
        size = patch_input_size(image.shape[1], image.shape[0], card.patch_side)
        (output,) = self._session.run([card.patch_output], {card.input_name: preprocess([image], card, size)})
        feature_map = np.asarray(output, dtype=np.float32)
        if feature_map.ndim != 4 or feature_map.shape[1] != card.patch_dim:
            raise ModelError(
                f"embedder {card.name}: patch output {card.patch_output} has shape {feature_map.shape}, "
                f"its card says {card.patch_dim} channels"
            )
        return cells(feature_map[0], mask)
