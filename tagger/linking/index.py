"""The catalog index: per-image features plus the per-SKU arrays that search needs.

Built once per catalog change and reused by the API and workers (see `store.py`). Rebuilds are
incremental: features are keyed by image content digest, so only new or changed images are computed.
`version` hashes the feature recipe and every SKU's text and image digests; placements record it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from tagger.arrays import FloatArray
from tagger.linking.catalog import CatalogItem, LoadedImage, load_source
from tagger.linking.errors import CatalogIndexError
from tagger.linking.features import Extractor, ImageFeatures
from tagger.linking.images import PACKSHOT_PLAIN_BORDER, ImageProblem, border_pixels, plain_border_shares
from tagger.linking.keypoints import LocalFeatures
from tagger.linking.own_print import Box, format_own_print
from tagger.linking.print_shortlist import PrintShortlist
from tagger.linking.text import TextVocabulary, normalize_words, split_identifier

IntArray = NDArray[np.int32]

# Above this many SKUs the catalog-wide embedding pass runs in a lower-dimensional subspace: at 10,000
# SKUs the 1280-wide centroid matrix is 51 MB, and reading it (memory-bound) cost 9 of the pass's 10 ms.
PROJECT_ABOVE_SKUS = 2048
PROJECTED_DIM = 256
# The subspace is fitted on at most this many centroids (evenly spaced rows, so it is deterministic).
PROJECTION_SAMPLE = 4096
# SKUs whose views are stacked at a time to sum their centroids: the index keeps no stacked copy of
# the views (each image's own array serves), so building one only for the sums is bounded too.
CENTROID_CHUNK_SKUS = 1024
_PACKSHOT_INDEX_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class SkippedImage:
    """A catalog image that was not indexed, and why (surfaced to the brand, never silent)."""

    sku: str
    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class IndexedProduct:
    """What the index keeps about one SKU besides features: enough to explain a candidate."""

    sku: str
    title: str
    brand: str
    description: str
    image_digests: tuple[str, ...]
    # Boxes on one of its images (`CatalogItem.own_print_image`) around the print only this product has
    # (`own_print`), and that image's digest ("" when it could not be indexed: the marks then approve
    # nothing).
    own_print: tuple[Box, ...] = ()
    own_print_digest: str = ""


@dataclass(frozen=True)
class CatalogIndex:
    """Search-ready catalog. Build with `build_catalog_index`; persist with an `IndexStore`."""

    products: tuple[IndexedProduct, ...]
    image_features: Mapping[str, ImageFeatures]
    feature_signature: str
    skipped: tuple[SkippedImage, ...] = ()
    # The whole-frame print search's vote (`print_shortlist`), when the index store saved one; else it
    # is built on first use.
    print_shortlist: PrintShortlist | None = field(default=None, compare=False, repr=False)
    colours: FloatArray = field(init=False, repr=False)
    centroids: FloatArray = field(init=False, repr=False)  # per-SKU mean view, unit norm
    # For large catalogs: an orthonormal D x k basis and the centroids in it (None: exact pass).
    shortlist_basis: FloatArray | None = field(init=False, repr=False)
    projected_centroids: FloatArray | None = field(init=False, repr=False)
    documents: tuple[frozenset[str], ...] = field(init=False, repr=False)
    vocabulary: TextVocabulary = field(init=False, repr=False)
    # The words the catalog names its products with (its titles'): a pack printing one its SKU lacks
    # names another product (`print_words`).
    naming_words: frozenset[str] = field(init=False, repr=False)
    # How many titles use each naming word (`naming_words_without`).
    title_word_counts: Mapping[str, int] = field(init=False, repr=False)
    postings: Mapping[str, IntArray] = field(init=False, repr=False)
    # The images that show the product alone (`images.shows_product_alone`); the others are scenes (a
    # shop photo, a frame of an episode), whose keypoints and words also cover what stands beside the
    # product: they rank by appearance only (`linker._best_verification`).
    packshot_digests: frozenset[str] = field(init=False, repr=False)
    # Whether some SKU has a catalog image that is not a packshot.
    has_scenes: bool = field(init=False, repr=False)
    version: str = field(init=False)
    _packshot_index: CatalogIndex | None = field(init=False, default=None, compare=False, repr=False)

    def naming_words_without(self, row: int) -> frozenset[str]:
        """The naming words of a catalog without product `row` (evaluation's "left out of the catalog"):
        its title's words that no other title uses are no longer names."""
        own = set(normalize_words(self.products[row].title))
        return self.naming_words - {word for word in own if self.title_word_counts.get(word, 0) <= 1}

    def __post_init__(self) -> None:
        # Derived arrays are computed once here so a loaded index and a built one are identical.
        colours, documents = [], []
        packshots = _packshots_among(self.image_features)
        for product in self.products:
            features = [self.image_features[digest] for digest in product.image_digests]
            colour = np.mean([item.colour for item in features], axis=0).astype(np.float32)
            colours.append(colour / max(float(np.linalg.norm(colour)), 1e-12))
            words = normalize_words(f"{split_identifier(product.sku)} {product.title} {product.brand}")
            words += normalize_words(product.description)
            # Words read on a scene may be a neighbour's (a shelf of another flavour): packshots only.
            shots = zip(product.image_digests, features, strict=True)
            words += [word for digest, item in shots if digest in packshots for word in item.words]
            documents.append(frozenset(words))
        set_ = object.__setattr__
        set_(self, "colours", np.stack(colours) if colours else np.zeros((0, 0), np.float32))
        set_(self, "documents", tuple(documents))
        set_(self, "vocabulary", TextVocabulary.from_documents(documents))
        title_counts: dict[str, int] = {}
        for product in self.products:
            for word in set(normalize_words(product.title)):
                title_counts[word] = title_counts.get(word, 0) + 1
        set_(self, "naming_words", frozenset(title_counts))
        set_(self, "title_word_counts", title_counts)
        postings: dict[str, list[int]] = {}
        for row, words_set in enumerate(documents):
            for word in words_set:
                postings.setdefault(word, []).append(row)
        set_(self, "postings", {word: np.asarray(rows, dtype=np.int32) for word, rows in postings.items()})
        centroids = _centroids(self.products, self.image_features)
        set_(self, "centroids", centroids)
        basis = shortlist_basis(centroids)
        set_(self, "shortlist_basis", basis)
        set_(self, "projected_centroids", None if basis is None else np.ascontiguousarray(centroids @ basis))
        set_(self, "packshot_digests", packshots)
        used = (digest for product in self.products for digest in product.image_digests)
        set_(self, "has_scenes", any(digest not in packshots for digest in used))
        set_(self, "version", _version(self.feature_signature, self.products))

    def __len__(self) -> int:
        return len(self.products)

    @property
    def skus(self) -> tuple[str, ...]:
        return tuple(product.sku for product in self.products)

    def views(self, row: int) -> list[FloatArray]:
        """SKU `row`'s catalog views (one V x D array per image, each image's own: a loaded index's
        are memory-mapped). The index stacks no copy of them: at 10,000 SKUs that copy was 200 MB of
        each worker's own memory, and the packshot index of a catalog with scenes made another."""
        return [self.image_features[digest].embeddings for digest in self.products[row].image_digests]

    def local_features(self, row: int) -> list[LocalFeatures]:
        return [self.image_features[digest].local for digest in self.products[row].image_digests]

    def packshots_only(self) -> CatalogIndex:
        """The catalog as its packshots alone describe it: each SKU with only its packshots, a SKU with
        none left out. Auto-approval asks it for a second opinion (`Linker.link_track`): a scene can
        make a link confident by looking like the shot. `self` when there is no scene; otherwise built
        once (under a lock: link threads share an index) and kept."""
        if not self.has_scenes:
            return self
        with _PACKSHOT_INDEX_LOCK:
            if self._packshot_index is None:
                object.__setattr__(self, "_packshot_index", _packshots_of(self))
        assert self._packshot_index is not None
        return self._packshot_index

    def without(self, skus: set[str]) -> CatalogIndex:
        """The same index minus some SKUs (leave-SKU-out evaluation; delisted products)."""
        kept = tuple(product for product in self.products if product.sku not in skus)
        digests = {digest for product in kept for digest in product.image_digests}
        return CatalogIndex(
            products=kept,
            image_features={digest: self.image_features[digest] for digest in digests},
            feature_signature=self.feature_signature,
            skipped=self.skipped,
        )


def _centroids(products: Sequence[IndexedProduct], images: Mapping[str, ImageFeatures]) -> FloatArray:
    """Each SKU's mean view, unit norm: `np.add.reduceat` over the views of CENTROID_CHUNK_SKUS SKUs
    stacked at a time, which sums each SKU's run of views exactly as stacking every view would."""
    if not products:
        return np.zeros((0, 0), np.float32)
    dim = images[products[0].image_digests[0]].embeddings.shape[1]
    centroids = np.zeros((len(products), dim), np.float32)
    for first in range(0, len(products), CENTROID_CHUNK_SKUS):
        chunk = products[first : first + CENTROID_CHUNK_SKUS]
        # Every indexed product has at least one image, so its views are a non-empty run.
        runs = [[images[digest].embeddings for digest in product.image_digests] for product in chunk]
        counts = np.array([sum(views.shape[0] for views in run) for run in runs], dtype=np.int64)
        stacked = np.concatenate([views for run in runs for views in run])
        centroids[first : first + len(chunk)] = np.add.reduceat(stacked, np.cumsum(counts) - counts, axis=0)
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    return centroids


def _packshots_among(images: Mapping[str, ImageFeatures]) -> frozenset[str]:
    """The digests of the images that show the product alone (`images.shows_product_alone`), their
    thumbnails judged in one pass. An image kept without a thumbnail cannot tell and counts as a
    packshot, as before the distinction."""
    packshots = {digest for digest, item in images.items() if not item.thumbnail.size}
    by_shape: dict[tuple[int, ...], list[tuple[str, NDArray[np.uint8]]]] = {}
    for digest, item in images.items():
        if item.thumbnail.size:
            by_shape.setdefault(item.thumbnail.shape, []).append((digest, item.thumbnail))
    for group in by_shape.values():
        shares = plain_border_shares(np.stack([border_pixels(thumb) for _, thumb in group]))
        packshots |= {
            digest for (digest, _), share in zip(group, shares, strict=True) if share >= PACKSHOT_PLAIN_BORDER
        }
    return frozenset(packshots)


def _packshots_of(index: CatalogIndex) -> CatalogIndex:
    kept = []
    for product in index.products:
        digests = tuple(digest for digest in product.image_digests if digest in index.packshot_digests)
        if digests:
            kept.append(replace(product, image_digests=digests))
    return CatalogIndex(
        products=tuple(kept),
        image_features={digest: index.image_features[digest] for digest in index.packshot_digests},
        feature_signature=index.feature_signature,
        skipped=index.skipped,
    )


def shortlist_basis(centroids: FloatArray) -> FloatArray | None:
    """The top principal directions (uncentred: the best rank-k approximation of dot products) of a
    large catalog's centroids; None for catalogs small enough to scan exactly.

    Only the shortlist uses it; shortlisted SKUs are then scored on their exact views. Product images
    concentrate in few directions: on grocery-dev, 256 directions keep 94.5% of a held-out photo
    embedding's energy, and dot products with packshots move by at most 0.005 (BENCHMARKS.md)."""
    count, dim = centroids.shape
    if count <= PROJECT_ABOVE_SKUS or dim <= PROJECTED_DIM:
        return None
    sample = centroids[np.linspace(0, count - 1, min(count, PROJECTION_SAMPLE)).astype(np.int64)]
    gram = (sample.T @ sample).astype(np.float64)
    _, vectors = np.linalg.eigh(gram)  # ascending eigenvalues
    return np.ascontiguousarray(vectors[:, ::-1][:, :PROJECTED_DIM], dtype=np.float32)


def _version(signature: str, products: Sequence[IndexedProduct]) -> str:
    digest = hashlib.sha256(signature.encode())
    for product in sorted(products, key=lambda item: item.sku):
        for part in (product.sku, product.title, product.brand, product.description, *product.image_digests):
            digest.update(part.encode())
            digest.update(b"\x00")
        if product.own_print:  # (absent from the hash when unset: indexes built before it keep their version)
            digest.update(
                f"own_print={format_own_print(product.own_print)}@{product.own_print_digest}".encode()
            )
            digest.update(b"\x00")
    return digest.hexdigest()[:16]


def _check_unique(products: Sequence[CatalogItem]) -> None:
    counts = Counter(item.sku for item in products)
    duplicates = sorted(sku for sku, count in counts.items() if count > 1)
    if duplicates:
        shown = ", ".join(duplicates[:5]) + ("…" if len(duplicates) > 5 else "")
        raise CatalogIndexError(f"catalog has duplicate SKUs: {shown}", sku=duplicates[0])
    blank = [position for position, item in enumerate(products) if not item.sku.strip()]
    if blank:
        raise CatalogIndexError(f"catalog row {blank[0]} has an empty SKU")


def build_catalog_index(
    products: Sequence[CatalogItem],
    extractor: Extractor,
    *,
    previous: CatalogIndex | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> CatalogIndex:
    """Index a catalog. Unusable images are skipped with a reason; a SKU with no usable image is left
    out (and listed in `skipped`); duplicate SKUs or a catalog with nothing indexable is an error.
    With `previous` built by the same recipe, unchanged images are not recomputed."""
    if not products:
        raise CatalogIndexError("catalog is empty: nothing to index")
    _check_unique(products)
    reusable: Mapping[str, ImageFeatures] = {}
    if previous is not None and previous.feature_signature == extractor.signature:
        reusable = previous.image_features
    features: dict[str, ImageFeatures] = {}
    indexed: list[IndexedProduct] = []
    skipped: list[SkippedImage] = []
    for position, item in enumerate(products):
        digests: list[str] = []
        marked = ""
        if not item.images:
            skipped.append(SkippedImage(item.sku, "-", "product has no images"))
        for image_position, source in enumerate(item.images):
            loaded = load_source(source, image_position)
            if isinstance(loaded, ImageProblem):
                skipped.append(SkippedImage(item.sku, loaded.source, loaded.reason))
                continue
            digests.append(loaded.digest)
            if item.own_print and image_position == item.own_print_image:
                marked = loaded.digest
            if loaded.digest not in features:
                features[loaded.digest] = reusable.get(loaded.digest) or _extract(extractor, loaded)
        if digests:
            indexed.append(
                IndexedProduct(
                    item.sku, item.title, item.brand, item.description, tuple(digests), item.own_print, marked
                )
            )
        elif item.images:
            skipped.append(SkippedImage(item.sku, "-", "product has no usable image; not indexed"))
        if on_progress is not None:
            on_progress(position + 1, len(products))
    if not indexed:
        reasons = "; ".join(f"{s.sku}: {s.reason}" for s in skipped[:3])
        raise CatalogIndexError(f"catalog has no usable images ({len(products)} products; {reasons})")
    return CatalogIndex(
        products=tuple(indexed),
        image_features=features,
        feature_signature=extractor.signature,
        skipped=tuple(skipped),
    )


def _extract(extractor: Extractor, loaded: LoadedImage) -> ImageFeatures:
    features = extractor.catalog_features(loaded.image)
    # The index keeps keypoint descriptors quantized for matching, whatever the extractor (or a disk
    # cache written before) handed back: `LocalFeatures.compact`.
    return replace(features, local=features.local.compact())
