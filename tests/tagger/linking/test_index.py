"""Building the catalog index: skips with reasons, errors for unusable catalogs, versions, reuse."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tagger.linking.catalog import CatalogItem
from tagger.linking.errors import CatalogIndexError
from tagger.linking.features import FeatureConfig, FeatureExtractor, ImageFeatures
from tagger.linking.index import (
    PROJECT_ABOVE_SKUS,
    PROJECTED_DIM,
    CatalogIndex,
    IndexedProduct,
    SkippedImage,
    build_catalog_index,
)
from tagger.linking.keypoints import LocalFeatures, QuantizedDescriptors
from tagger.linking.linker import catalog_scores
from tagger.linking.ocr import TextLine
from tests.tagger.linking.factories import (
    FakeEmbedder,
    FakeReader,
    catalog,
    extractor,
    packshot,
    scene_around,
)


def test_index_holds_every_product_with_views_colours_and_text() -> None:
    items = catalog(3)

    index = build_catalog_index(items, extractor())

    assert index.skus == ("SKU-0", "SKU-1", "SKU-2")
    assert [[views.shape for views in index.views(row)] for row in range(3)] == [[(4, 108)]] * 3  # four
    # augmented views per packshot, read from the image's own features (no stacked copy)
    assert all(
        index.views(row)[0] is index.image_features[index.products[row].image_digests[0]].embeddings
        for row in range(3)
    )
    np.testing.assert_allclose(np.linalg.norm(index.centroids, axis=1), [1.0, 1.0, 1.0], atol=1e-6)
    assert index.colours.shape[0] == 3
    assert index.documents[0] == frozenset({"sku", "product", "brand", "bravo"})
    assert index.skipped == ()


def test_unusable_images_are_skipped_with_reasons_and_the_rest_indexed(tmp_path: Path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    items = [
        CatalogItem("GOOD", "Good", images=(packshot(1), tmp_path / "missing.jpg")),
        CatalogItem("BROKEN", "Broken", images=(tmp_path / "broken.jpg",)),
        CatalogItem("TINY", "Tiny", images=(np.zeros((8, 8, 3), dtype=np.uint8),)),
        CatalogItem("NONE", "No image"),
    ]

    index = build_catalog_index(items, extractor())

    assert index.skus == ("GOOD",)
    assert index.skipped == (
        SkippedImage("GOOD", str(tmp_path / "missing.jpg"), "image file does not exist"),
        SkippedImage(
            "BROKEN",
            str(tmp_path / "broken.jpg"),
            "image cannot be decoded (not a JPEG/PNG/WebP or truncated)",
        ),
        SkippedImage("BROKEN", "-", "product has no usable image; not indexed"),
        SkippedImage("TINY", "image #0 (array)", "image is too small (8x8 px; need ≥ 32 px a side)"),
        SkippedImage("TINY", "-", "product has no usable image; not indexed"),
        SkippedImage("NONE", "-", "product has no images"),
    )


def test_catalog_without_any_usable_image_is_an_error(tmp_path: Path) -> None:
    items = [CatalogItem("A", "A", images=(tmp_path / "missing.jpg",)), CatalogItem("B", "B")]

    with pytest.raises(
        CatalogIndexError, match=r"catalog has no usable images \(2 products; A: image file does not exist"
    ):
        build_catalog_index(items, extractor())


def test_empty_catalog_is_an_error() -> None:
    with pytest.raises(CatalogIndexError, match="catalog is empty"):
        build_catalog_index([], extractor())


def test_duplicate_skus_are_an_error_naming_them() -> None:
    items = [*catalog(2), dataclasses.replace(catalog(1)[0], title="Again")]

    with pytest.raises(CatalogIndexError, match="catalog has duplicate SKUs: SKU-0") as caught:
        build_catalog_index(items, extractor())
    assert caught.value.sku == "SKU-0"


def test_version_is_stable_and_changes_with_text_images_or_recipe() -> None:
    items = catalog(2)
    base = build_catalog_index(items, extractor()).version

    same = build_catalog_index(list(reversed(items)), extractor()).version
    retitled = build_catalog_index(
        [dataclasses.replace(items[0], title="New"), items[1]], extractor()
    ).version
    reimaged = build_catalog_index(
        [dataclasses.replace(items[0], images=(packshot(9),)), items[1]], extractor()
    ).version
    recipe = FeatureExtractor(FakeEmbedder(), None, FeatureConfig(ocr=False, max_keypoints=100))
    other_recipe = build_catalog_index(items, recipe).version

    assert same == base
    assert len({base, retitled, reimaged, other_recipe}) == 4


def test_rebuild_reuses_features_of_unchanged_images() -> None:
    items = catalog(3)
    first = build_catalog_index(items, extractor())
    counting = extractor()
    embedder = counting.embedder
    assert isinstance(embedder, FakeEmbedder)

    changed = [*items[:2], dataclasses.replace(items[2], images=(packshot(7),))]
    second = build_catalog_index(changed, counting, previous=first)

    assert embedder.images_seen == 4  # only the new image's four views were embedded
    assert second.version != first.version


def test_without_drops_skus_and_their_features() -> None:
    index = build_catalog_index(catalog(3), extractor())

    smaller = index.without({"SKU-1"})

    assert smaller.skus == ("SKU-0", "SKU-2")
    assert set(smaller.image_features) == {
        index.products[0].image_digests[0],
        index.products[2].image_digests[0],
    }


def _large_catalog(skus: int, dim: int, rank: int) -> CatalogIndex:
    """A catalog too large to scan exactly whose embeddings, like real product photos', lie mostly in
    a few directions."""
    rng = np.random.default_rng(3)
    directions = rng.normal(size=(rank, dim))
    empty = LocalFeatures.empty()
    features, products = {}, []
    for n in range(skus):
        view = rng.normal(size=(1, rank)) @ directions + 0.01 * rng.normal(size=(1, dim))
        digest = f"{n:064x}"
        features[digest] = ImageFeatures(
            embeddings=(view / np.linalg.norm(view)).astype(np.float32),
            colour=np.full(4, 0.5, np.float32),
            local=empty,
        )
        products.append(IndexedProduct(f"SKU-{n}", f"Product {n}", "Brand", "", (digest,)))
    return CatalogIndex(products=tuple(products), image_features=features, feature_signature="test")


def test_a_large_catalogs_shortlist_pass_runs_in_a_subspace_that_keeps_its_rankings() -> None:
    index = _large_catalog(PROJECT_ABOVE_SKUS + 100, dim=PROJECTED_DIM + 64, rank=48)
    query_embedding = index.centroids[[17]] + 0.05 * index.centroids[[18]]
    query = ImageFeatures(
        embeddings=(query_embedding / np.linalg.norm(query_embedding)).astype(np.float32),
        colour=np.full(4, 0.5, np.float32),
        local=LocalFeatures.empty(),
    )

    basis = index.shortlist_basis
    embedding, _, _ = catalog_scores(query, index)

    assert basis is not None
    assert basis.shape == (PROJECTED_DIM + 64, PROJECTED_DIM)
    np.testing.assert_allclose(basis.T @ basis, np.eye(PROJECTED_DIM), atol=1e-4)
    exact = (query.embeddings @ index.centroids.T).max(axis=0)
    np.testing.assert_allclose(embedding, exact, atol=2e-3)
    assert np.argsort(-embedding)[:10].tolist() == np.argsort(-exact)[:10].tolist()
    assert int(np.argmax(embedding)) == 17


def test_a_small_catalog_is_scanned_exactly() -> None:
    index = build_catalog_index(catalog(3), extractor())

    assert index.shortlist_basis is None
    assert index.projected_centroids is None


def test_catalog_keypoints_are_kept_quantized_and_patches_in_half_precision() -> None:
    """A 10,000-image index holds ~1 GB of RootSIFT descriptors as int8 steps (2 GB in float16), and
    matching a crop against them quantizes nothing on the catalog side."""
    index = build_catalog_index(catalog(2), extractor())

    for features in index.image_features.values():
        assert len(features.local) > 50
        descriptors = features.local.descriptors
        assert isinstance(descriptors, QuantizedDescriptors)
        assert descriptors.steps.dtype == np.int8
        assert descriptors.squared_norms.dtype == np.int32
        assert features.patches.dtype == np.float16


def test_packshots_only_keeps_each_skus_packshots_and_drops_a_sku_shown_only_in_scenes() -> None:
    items = catalog(3)
    scene_a, scene_b = scene_around(packshot(7), seed=1), scene_around(packshot(8), seed=2)
    with_scenes = [
        dataclasses.replace(items[0], images=(packshot(0), scene_a)),
        items[1],
        dataclasses.replace(items[2], images=(scene_b,)),  # no packshot at all
    ]
    index = build_catalog_index(with_scenes, extractor())

    alone = index.packshots_only()

    assert index.has_scenes
    assert alone.skus == (items[0].sku, items[1].sku)
    assert alone.products[0].image_digests == index.products[0].image_digests[:1]
    assert alone.products[1] == index.products[1]
    assert not alone.has_scenes
    assert index.packshots_only() is alone  # built once


def test_a_catalog_of_packshots_is_its_own_packshots_only_view() -> None:
    index = build_catalog_index(catalog(3), extractor())

    assert not index.has_scenes
    assert index.packshots_only() is index


class ShelfAwareReader(FakeReader):
    """Reads "strawberry" on the 200 px packshots and "vanilla" on the 400 px shop photo (the
    neighbouring flavour's cartons beside the product)."""

    def read_lines(self, image: np.ndarray) -> list[TextLine]:
        self.lines = ["vanilla"] if image.shape[0] == 400 else ["strawberry"]
        return super().read_lines(image)


def test_words_read_on_a_scene_are_not_the_skus_text() -> None:
    items = catalog(2)
    items[0] = dataclasses.replace(items[0], images=(packshot(0), scene_around(packshot(5), seed=1)))
    reading = FeatureExtractor(
        FakeEmbedder(), ShelfAwareReader([]), FeatureConfig(ocr=True, max_keypoints=300)
    )

    index = build_catalog_index(items, reading)

    assert "strawberry" in index.documents[0]
    assert "vanilla" not in index.documents[0]


class CountingReader(FakeReader):
    """Counts the images it was asked to read."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(lines)
        self.read_shapes: list[tuple[int, ...]] = []

    def read_lines(self, image: np.ndarray) -> list[TextLine]:
        self.read_shapes.append(image.shape)
        return super().read_lines(image)


def test_a_scenes_print_is_neither_extracted_nor_read_and_its_appearance_is() -> None:
    items = catalog(2)
    shop_photo = scene_around(packshot(0), seed=1)
    items[0] = dataclasses.replace(items[0], images=(packshot(0), shop_photo))
    reader = CountingReader(["bravo"])
    reading = FeatureExtractor(FakeEmbedder(), reader, FeatureConfig(ocr=True, max_keypoints=300))

    index = build_catalog_index(items, reading)

    packshot_digest, scene_digest = index.products[0].image_digests
    assert packshot_digest in index.packshot_digests  # extraction and the index tell them apart alike
    assert scene_digest not in index.packshot_digests
    own_packshot, scene = index.image_features[packshot_digest], index.image_features[scene_digest]
    assert scene.thumbnail.size
    assert scene.embeddings.shape == own_packshot.embeddings.shape
    assert len(scene.local) == 0
    assert scene.words == ()
    assert len(own_packshot.local) > 50
    assert own_packshot.words == ("bravo",)
    assert shop_photo.shape not in reader.read_shapes  # OCR never ran on the 400 px scene
    assert len(reader.read_shapes) == 2  # the two packshots


def test_another_bar_between_packshots_and_scenes_is_another_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    # An index whose scenes were told apart at another bar holds other images without keypoints: it
    # must be rebuilt, not reused.
    before = FeatureConfig().signature()
    monkeypatch.setattr("tagger.linking.features.PACKSHOT_PLAIN_BORDER", 0.6)

    assert FeatureConfig().signature() != before


def test_centroids_summed_a_few_skus_at_a_time_are_those_of_all_views_stacked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    items = catalog(5)
    items[1] = dataclasses.replace(items[1], images=(packshot(1), scene_around(packshot(1), seed=2)))
    items[3] = dataclasses.replace(items[3], images=(packshot(3), packshot(6), packshot(7)))
    whole = build_catalog_index(items, extractor())
    monkeypatch.setattr("tagger.linking.index.CENTROID_CHUNK_SKUS", 2)  # chunks of 2, 2 and 1 SKUs

    chunked = build_catalog_index(items, extractor())

    stacked = np.concatenate([views for row in range(len(whole)) for views in whole.views(row)])
    counts = np.array([sum(views.shape[0] for views in whole.views(row)) for row in range(len(whole))])
    sums = np.add.reduceat(stacked, np.cumsum(counts) - counts, axis=0)
    expected = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    np.testing.assert_array_equal(chunked.centroids, whole.centroids)
    np.testing.assert_allclose(chunked.centroids, expected, rtol=1e-6)
