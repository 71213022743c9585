"""Factories for linking tests: synthetic packshots with print, a fake embedder, a tiny ONNX encoder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper

from tagger.arrays import Image
from tagger.linking.catalog import CatalogItem
from tagger.linking.features import FeatureConfig, FeatureExtractor
from tagger.linking.index import CatalogIndex, build_catalog_index
from tagger.linking.ocr import TextLine

WORDS = ("BRAVO", "ARLA", "OATLY", "GARANT", "YOGGI", "VALIO", "ALPRO", "TROPIC")


def packshot(seed: int, size: int = 200) -> Image:
    """A white-background 'carton' with a seeded colour, random blobs and a brand word: enough texture
    for SIFT, distinct colours for the colour signal."""
    rng = np.random.default_rng(seed)
    image = np.full((size, size, 3), 255, dtype=np.uint8)
    colour = tuple(int(c) for c in rng.integers(30, 220, size=3))
    cv2.rectangle(image, (40, 10), (160, 190), colour, thickness=-1)
    for _ in range(14):
        centre = (int(rng.integers(45, 155)), int(rng.integers(15, 185)))
        dot = tuple(int(c) for c in rng.integers(0, 255, size=3))
        cv2.circle(image, centre, int(rng.integers(3, 12)), dot, thickness=-1)
    cv2.putText(image, WORDS[seed % len(WORDS)], (45, 100), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    return image


def family_packshot(flavour_seed: int) -> Image:
    """One carton of a family of siblings: its own flavour picture on the top of the carton (fractions
    0.22-0.78 x 0.07-0.45 of the image), the card all of them share on the bottom (0.55-0.93)."""
    image = np.full((200, 200, 3), 255, dtype=np.uint8)
    cv2.rectangle(image, (40, 10), (160, 190), (60, 140, 200), thickness=-1)
    for seed, top, bottom in ((flavour_seed, 14, 90), (7, 110, 186)):
        rng = np.random.default_rng(seed)
        for _ in range(16):
            centre = (int(rng.integers(50, 150)), int(rng.integers(top + 5, bottom - 5)))
            colour = tuple(int(c) for c in rng.integers(0, 255, size=3))
            cv2.circle(image, centre, int(rng.integers(3, 9)), colour, thickness=-1)
    cv2.putText(image, "YOGGI", (52, 105), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    return image


def combined_edition(own_seed: int, printed_seed: int) -> Image:
    """A sibling's pack as sold in the shop, not as its packshot shows it: a "strawberry & vanilla"
    edition of `own_seed`'s carton with `printed_seed`'s flavour picture on top and its own below, in
    place of the family card."""
    carton = family_packshot(own_seed).copy()
    carton[14:90, 40:160] = family_packshot(printed_seed)[14:90, 40:160]
    carton[110:186, 40:160] = family_packshot(own_seed)[14:90, 40:160]
    return carton


def other_edition(own_seed: int, picture_seed: int) -> Image:
    """Another print edition of `own_seed`'s carton, as sold beside its packshot's: the family card as on
    the packshot, `picture_seed`'s flavour picture where its own is (a summer edition, say)."""
    carton = family_packshot(own_seed).copy()
    carton[14:90, 40:160] = family_packshot(picture_seed)[14:90, 40:160]
    return carton


def photo_of(shot: Image, seed: int = 0, size: int = 320) -> Image:
    """The packshot as a camera might see it: on a grey shelf, scaled, rotated a little, noisy."""
    rng = np.random.default_rng(1000 + seed)
    angle = float(rng.uniform(-10, 10))
    matrix = cv2.getRotationMatrix2D((100, 100), angle, 1.2)
    matrix[:, 2] = matrix[:, 2] + (size - 200) / 2
    warped = cv2.warpAffine(
        shot, matrix, (size, size), borderMode=cv2.BORDER_CONSTANT, borderValue=(120, 120, 120)
    )
    noise = rng.normal(0, 4, size=warped.shape)
    return np.clip(warped.astype(np.float64) + noise, 0, 255).astype(np.uint8)


def scene_around(product: Image, seed: int = 0, size: int = 400) -> Image:
    """A catalog image that is not a packshot: the product in front of a shelf of coloured boxes."""
    rng = np.random.default_rng(2000 + seed)
    scene = np.zeros((size, size, 3), dtype=np.uint8)
    for y in range(0, size, 50):
        for x in range(0, size, int(rng.integers(30, 70))):
            scene[y : y + 50, x : x + 70] = rng.integers(0, 255, size=3)
    top, left = (size - product.shape[0]) // 2, (size - product.shape[1]) // 2
    scene[top : top + product.shape[0], left : left + product.shape[1]] = product
    return scene


class FakeEmbedder:
    """A deterministic 'encoder': a tiny colour thumbnail, normalized. Counts calls for cache tests."""

    name = "fake-thumbnail-embedder"

    def __init__(self) -> None:
        self.images_seen = 0

    def embed(self, images: Sequence[Image]) -> NDArray[np.float32]:
        self.images_seen += len(images)
        rows = [
            cv2.resize(image, (6, 6), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
            for image in images
        ]
        matrix = np.asarray(rows, dtype=np.float32).reshape(len(images), 108) - 127.0
        return np.asarray(
            matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-6), np.float32
        )


class FakeReader:
    """Reads fixed lines, standing in for OCR; each line is placed across the image's middle, or at
    `place` (the line's start and end as fractions of the image's width and height)."""

    name = "fake-reader"

    def __init__(
        self, lines: Sequence[str], place: tuple[tuple[float, float], tuple[float, float]] | None = None
    ) -> None:
        self.lines = list(lines)
        self.place = place or ((0.3, 0.5), (0.7, 0.5))

    def read_lines(self, image: Image) -> list[TextLine]:
        height, width = image.shape[:2]
        (x0, y0), (x1, y1) = self.place
        start, end = (x0 * width, y0 * height), (x1 * width, y1 * height)
        return [TextLine(line, 0.99, start, end) for line in self.lines]


def extractor(*, ocr: bool = False) -> FeatureExtractor:
    return FeatureExtractor(FakeEmbedder(), None, FeatureConfig(ocr=ocr, max_keypoints=300))


def catalog(count: int, directory: Path | None = None) -> list[CatalogItem]:
    """`count` products with one synthetic packshot each, as arrays or (with `directory`) PNG files."""
    items = []
    for seed in range(count):
        image = packshot(seed)
        source: Path | Image = image
        if directory is not None:
            source = directory / f"sku-{seed}.png"
            cv2.imwrite(str(source), image)
        items.append(
            CatalogItem(f"SKU-{seed}", f"Product {seed}", "Brand", WORDS[seed % len(WORDS)], (source,))
        )
    return items


def tiny_encoder(path: Path, channels: int = 3) -> Path:
    """An ONNX 'encoder' whose NCHW feature map is its input (Identity): exercises the real ORT path."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["images"], ["features"])],
        "tiny-encoder",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", channels, 16, 16])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", channels, 16, 16])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def patch_encoder(path: Path) -> Path:
    """Like `tiny_encoder`, plus an intermediate "mid" tensor (4x4 average pooling of the input, a
    stride-4 map) for the [patches] table; the input is declared fixed at 16x16."""
    graph = helper.make_graph(
        [
            helper.make_node("AveragePool", ["images"], ["mid"], kernel_shape=[4, 4], strides=[4, 4]),
            helper.make_node("Identity", ["images"], ["features"]),
        ],
        "patch-encoder",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 16, 16])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 3, 16, 16])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def encoder_card(
    path: Path, model_file: str, sha256: str, *, pooling: str = "mean", patches: str = ""
) -> Path:
    path.write_text(
        f'''name = "tiny-encoder"
kind = "image-embedder"
file = "{model_file}"
sha256 = "{sha256}"
licence = "MIT"

[input]
name = "images"
width = 16
height = 16
channel_order = "RGB"
scale = 0.00392156862745098
mean = [0.5, 0.5, 0.5]
std = [0.25, 0.25, 0.25]

[output]
name = "features"
layout = "NCHW"
pooling = "{pooling}"
dim = 3
{patches}
''',
        encoding="utf-8",
    )
    return path


def yoggi_family_index() -> CatalogIndex:
    """Two siblings that share the family card, each with its own flavour picture: Yoggi Strawberry
    (YOG-S, `family_packshot(101)`) and Yoggi Vanilla (YOG-V, 202), indexed with the test extractor."""
    items = [
        CatalogItem("YOG-S", "Yoggi Strawberry", "Yoggi", "", (family_packshot(101),)),
        CatalogItem("YOG-V", "Yoggi Vanilla", "Yoggi", "", (family_packshot(202),)),
    ]
    return build_catalog_index(items, extractor())
