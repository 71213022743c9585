"""The "patch" signal: mid-level CNN feature-map cells of a packshot, each looked for in the photo.

A global embedding averages the whole photo (shelf, hands, neighbours); here every cell of the
packshot that shows the product finds its most similar cell anywhere in the photo, and the score is
the mean of those best matches (a one-sided chamfer similarity). Print, logos and shapes drive it,
so it separates packages that a global ImageNet embedding confuses. Pure functions, tested alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from tagger.arrays import FloatArray

PATCH_STRIDE_MULTIPLE = 32
MIN_PATCHES = 4
TOUCHES_PRODUCT = 0.01  # share of a cell's pixels


def patch_input_size(width: int, height: int, side: int) -> tuple[int, int]:
    """Keep the aspect ratio, longest side about `side`, each side a multiple of 32 (at least 32)."""
    scale = side / max(width, height)
    return (
        max(PATCH_STRIDE_MULTIPLE, round(width * scale / PATCH_STRIDE_MULTIPLE) * PATCH_STRIDE_MULTIPLE),
        max(PATCH_STRIDE_MULTIPLE, round(height * scale / PATCH_STRIDE_MULTIPLE) * PATCH_STRIDE_MULTIPLE),
    )


def cells(feature_map: FloatArray, mask: NDArray[np.uint8] | None = None) -> FloatArray:
    """CxHxW map → one L2-normalized row per cell; with a mask (image-sized, non-zero = product), only
    the cells that touch the product (all cells when fewer than four do): a packshot's white margin
    would otherwise match any bright wall in a photo."""
    channels, rows, cols = feature_map.shape
    flat = feature_map.reshape(channels, rows * cols).T
    if mask is not None and mask.size:
        coverage = cv2.resize((mask > 0).astype(np.float32), (cols, rows), interpolation=cv2.INTER_AREA)
        inside = coverage >= TOUCHES_PRODUCT
        if int(inside.sum()) >= MIN_PATCHES:
            flat = flat[inside.reshape(-1)]
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    return np.asarray(flat / np.maximum(norms, 1e-12), dtype=np.float32)


def patch_similarity(catalog: NDArray[np.floating[Any]], query: NDArray[np.floating[Any]]) -> float:
    """Mean over the packshot's cells of the best cosine to any photo cell; 0 when either is empty."""
    return float(patch_similarities([catalog], query)[0])


def patch_similarities(
    catalogs: Sequence[NDArray[np.floating[Any]]], query: NDArray[np.floating[Any]]
) -> NDArray[np.float64]:
    """`patch_similarity` of several packshots to one photo, as one matrix product: a shortlist's 30
    packshots cost one half-to-single precision conversion and one BLAS call, not thirty."""
    scores = np.zeros(len(catalogs), dtype=np.float64)
    usable = [position for position, catalog in enumerate(catalogs) if catalog.size]
    if query.size == 0 or not usable:
        return scores
    for position in usable:
        if catalogs[position].shape[1] != query.shape[1]:
            raise ValueError(
                f"patch descriptors differ in width: {catalogs[position].shape[1]} vs {query.shape[1]}"
            )
    # float16 (catalog) products have no BLAS: widen the stacked cells once.
    stacked = np.concatenate([catalogs[position] for position in usable]).astype(np.float32)
    best = (stacked @ np.asarray(query, dtype=np.float32).T).max(axis=1)
    counts = np.array([catalogs[position].shape[0] for position in usable])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    scores[usable] = np.add.reduceat(best.astype(np.float64), starts) / counts
    return scores
