"""Packshot factories for training tests: a product drawn on a plain background, written to disk."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tagger.arrays import Image
from tagger.training.synthetic import ProductShots


def packshot(colour: tuple[int, int, int], *, background: int = 255, size: int = 200) -> Image:
    """A carton (a rectangle with a printed band and a label) centred on a plain background."""
    image = np.full((size, size, 3), background, np.uint8)
    left, top, right, bottom = size // 4, size // 8, 3 * size // 4, 7 * size // 8
    image[top:bottom, left:right] = colour
    image[top + 10 : top + 30, left:right] = (255 - colour[0], colour[2], colour[1])
    cv2.putText(image, "MILK", (left + 5, size // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
    return image


def write_products(folder: Path, count: int, *, size: int = 200) -> list[ProductShots]:
    """`count` products of distinct colours, one JPEG packshot each."""
    folder.mkdir(parents=True, exist_ok=True)
    products = []
    for index in range(count):
        hue = int(180 * index / max(count, 1))
        colour = np.asarray(cv2.cvtColor(np.array([[[hue, 200, 180]]], np.uint8), cv2.COLOR_HSV2BGR))[0, 0]
        path = folder / f"product-{index}.jpg"
        cv2.imwrite(str(path), packshot((int(colour[0]), int(colour[1]), int(colour[2])), size=size))
        products.append(ProductShots(name=f"SKU-{index}", packshots=(path,)))
    return products


def backgrounds(count: int, size: int = 240) -> list[Image]:
    """Textured background pictures (seeded noise over gradients): no products in them."""
    rng = np.random.default_rng(7)
    pictures = []
    for _ in range(count):
        base = rng.integers(0, 256, size=3)
        ramp = np.linspace(0.5, 1.0, size)[:, None, None]
        noise = rng.normal(0, 20, size=(size, size, 3))
        pictures.append(np.clip(base * ramp + noise, 0, 255).astype(np.uint8))
    return pictures
