"""The feature cache (`CachedExtractor`): features come back as computed, words with their places, and
a query cached before OCR placed its words is computed again."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tagger.linking.cache import CachedExtractor, features_from_arrays, features_to_arrays
from tagger.linking.features import FeatureConfig, FeatureExtractor
from tests.tagger.linking.factories import FakeEmbedder, FakeReader, packshot, photo_of


def _reading() -> tuple[FeatureExtractor, FakeEmbedder]:
    embedder = FakeEmbedder()
    return FeatureExtractor(
        embedder, FakeReader(["BRAVO APPLE"]), FeatureConfig(ocr=True, max_keypoints=300)
    ), embedder


def test_a_querys_words_and_their_places_survive_the_cache(tmp_path: Path) -> None:
    extractor, embedder = _reading()
    cached = CachedExtractor(extractor, tmp_path)
    photo = photo_of(packshot(1))

    first = cached.query_features(photo)
    again = cached.query_features(photo)

    assert embedder.images_seen == len(extractor.config.query_fractions)  # computed once
    assert again.words == first.words == ("bravo", "apple")
    np.testing.assert_array_equal(again.word_points, first.word_points)
    assert first.word_points.shape == (2, 2)


def test_words_given_for_a_crop_replace_the_cached_ones_without_their_places(tmp_path: Path) -> None:
    cached = CachedExtractor(_reading()[0], tmp_path)

    features = cached.query_features(photo_of(packshot(1)), words=("arla",))

    assert features.words == ("arla",)
    assert features.word_points.shape == (0, 2)


def test_a_query_cached_before_words_had_places_is_computed_again(tmp_path: Path) -> None:
    extractor, embedder = _reading()
    cached = CachedExtractor(extractor, tmp_path)
    photo = photo_of(packshot(1))
    cached.query_features(photo)
    [path] = (tmp_path / extractor.signature / "query").glob("*.npz")
    with np.load(path) as data:
        old = {name: data[name] for name in data.files if name != "word_points"}
    np.savez(path, **old)  # the layout of an older cache

    assert features_from_arrays(old).word_points.shape == (0, 2)  # still readable ...
    features = cached.query_features(photo)

    assert embedder.images_seen == 2 * len(extractor.config.query_fractions)  # ... but recomputed
    assert features.word_points.shape == (2, 2)


def test_catalog_features_round_trip_through_arrays() -> None:
    extractor, _ = _reading()
    features = extractor.catalog_features(packshot(2))

    back = features_from_arrays(features_to_arrays(features))

    assert back.words == features.words
    np.testing.assert_array_equal(back.local.points, features.local.points)
    assert back.size == features.size
