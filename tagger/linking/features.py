"""Per-image features, the same recipe for catalog packshots and query crops (with role-specific views).

One `ImageFeatures` holds everything matching needs: embeddings of a few views, a colour signature,
RootSIFT keypoints and the words OCR read. The extractor's `signature` names the recipe; it is part of
the catalog index version, so an index built with another recipe is never mixed with new queries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from tagger.arrays import FloatArray, Image
from tagger.linking.aligned import CATALOG_THUMBNAIL_PX, QUERY_THUMBNAIL_PX, thumbnail
from tagger.linking.colour import colour_signature
from tagger.linking.embedder import ImageEmbedder, PatchEncoder
from tagger.linking.images import (
    PACKSHOT_PLAIN_BORDER,
    PLAIN_BORDER_TOLERANCE,
    catalog_views,
    centre_crop,
    foreground_mask,
    query_crops,
    shows_product_alone,
)
from tagger.linking.keypoints import LocalFeatures, extract_local_features
from tagger.linking.ocr import TextReader
from tagger.linking.text import normalize_words


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    """The recipe; every field changes the features, so every field is in the signature."""

    query_fractions: tuple[float, ...] = (1.0, 0.7)
    # A second colour signature of a query, over its central half: a hand-held photo or a loose box
    # frames the product with shelf and hands, which the last query crop (0.7) still holds a lot of.
    centre_colour_fraction: float = 0.5
    augment_catalog: bool = True
    keypoint_side_px: int = 400
    max_keypoints: int = 800
    ocr: bool = True
    patches: bool = True

    def signature(self) -> str:
        return (
            f"q{','.join(f'{f:g}' for f in self.query_fractions)}-cc{self.centre_colour_fraction:g}"
            f"-aug{int(self.augment_catalog)}"
            f"-kp{self.keypoint_side_px}x{self.max_keypoints}-ocr{int(self.ocr)}-patches{int(self.patches)}"
            f"-thumb{CATALOG_THUMBNAIL_PX},{QUERY_THUMBNAIL_PX}"
            # Which catalog images are scenes, whose print is not read (`catalog_features`).
            f"-scenes{PACKSHOT_PLAIN_BORDER:g},{PLAIN_BORDER_TOLERANCE}"
        )


@dataclass(frozen=True, slots=True)
class ImageFeatures:
    """What matching needs from one image."""

    embeddings: FloatArray  # VxD, L2-normalized, one row per view or crop
    colour: FloatArray  # C, unit norm
    local: LocalFeatures
    words: tuple[str, ...] = field(default=())
    # Where OCR read each word in this image (N x 2 pixels, row for row with `words`); empty when the
    # words were read from another crop of the object, or not located.
    word_points: FloatArray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    # A small picture for aligned colour comparison, and the size keypoints are measured in.
    thumbnail: Image = field(default_factory=lambda: np.zeros((0, 0, 3), np.uint8))
    size: tuple[int, int] = (0, 0)
    # PxC local CNN descriptors (packshot: the cells that show the product, in half precision like its
    # keypoint descriptors); empty when the embedder card has no [patches] table.
    patches: NDArray[np.float16] | FloatArray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    # Queries only: the colour signature of the central part (see FeatureConfig); empty for packshots,
    # whose `colour` is already of the product alone.
    centre_colour: FloatArray = field(default_factory=lambda: np.zeros(0, np.float32))


class Extractor(Protocol):
    """What the index builder and the linker call; `FeatureExtractor` and `CachedExtractor` fit."""

    @property
    def signature(self) -> str: ...

    def catalog_features(self, image: Image) -> ImageFeatures: ...

    def query_features(self, image: Image, *, words: tuple[str, ...] | None = None) -> ImageFeatures:
        """`words`: text already read for this object (another crop of the track); skips OCR."""
        ...


@dataclass(slots=True)
class FeatureExtractor:
    """Computes `ImageFeatures`; the OCR reader is optional (no `ocr` extra → no text signal)."""

    embedder: ImageEmbedder
    reader: TextReader | None = None
    config: FeatureConfig = field(default_factory=FeatureConfig)
    patcher: PatchEncoder | None = None

    @property
    def signature(self) -> str:
        reader = self.reader.name if (self.reader is not None and self.config.ocr) else "none"
        patcher = self.patcher.name if (self.patcher is not None and self.config.patches) else "none"
        raw = f"{self.embedder.name}|{reader}|{patcher}|{self.config.signature()}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def _words(self, image: Image) -> tuple[tuple[str, ...], FloatArray]:
        """The words OCR read and where (N x 2 pixels)."""
        if self.reader is None or not self.config.ocr:
            return (), np.zeros((0, 2), np.float32)
        words: list[str] = []
        points = [np.zeros((0, 2), np.float32)]
        for line in self.reader.read_lines(image):
            found = normalize_words(line.text)
            words += found
            points.append(line.word_points(found))
        return tuple(words), np.concatenate(points).astype(np.float32)

    def _patches(self, image: Image, mask: NDArray[np.uint8] | None = None) -> FloatArray:
        if self.patcher is None or not self.config.patches:
            return np.zeros((0, 0), np.float32)
        return self.patcher.patches(image, mask)

    def _local(self, image: Image) -> LocalFeatures:
        return extract_local_features(
            image, upscale_to=self.config.keypoint_side_px, max_features=self.config.max_keypoints
        )

    def catalog_features(self, image: Image) -> ImageFeatures:
        """Features of a catalog image: several augmented views, colour of the product (not the white
        background). A scene (a shop or lifestyle photo, `images.shows_product_alone`) gets no keypoints
        and no words: it ranks by appearance only, and its print, shared with whatever stands beside the
        product, is never verified nor read into the SKU's text (`CatalogIndex.packshot_digests`).
        Reading it cost about half a second of OCR and 100 KB of descriptors an image for nothing."""
        views = catalog_views(image) if self.config.augment_catalog else [image]
        product = foreground_mask(image)
        small = thumbnail(image, CATALOG_THUMBNAIL_PX)
        # (An image too small for a thumbnail cannot tell, and counts as a packshot, as the index counts it.)
        packshot = not small.size or shows_product_alone(small)
        return ImageFeatures(
            embeddings=self.embedder.embed(views),
            colour=colour_signature(image, product),
            local=(self._local(image) if packshot else LocalFeatures.empty()).compact(),
            words=self._words(image)[0] if packshot else (),
            thumbnail=small,
            size=(image.shape[0], image.shape[1]),
            patches=self._patches(image, product).astype(np.float16),
        )

    def query_features(self, image: Image, *, words: tuple[str, ...] | None = None) -> ImageFeatures:
        """Features of a query crop: the crop and tighter centre crops; colour of the central part.
        With `words` (read from another crop of the same object) OCR is not run again."""
        crops = query_crops(image, self.config.query_fractions)
        read, points = self._words(image) if words is None else (words, np.zeros((0, 2), np.float32))
        return ImageFeatures(
            embeddings=self.embedder.embed(crops),
            colour=colour_signature(crops[-1]),
            local=self._local(image),
            words=read,
            word_points=points,
            thumbnail=thumbnail(image, QUERY_THUMBNAIL_PX),
            size=(image.shape[0], image.shape[1]),
            patches=self._patches(image),
            centre_colour=colour_signature(centre_crop(image, self.config.centre_colour_fraction)),
        )
