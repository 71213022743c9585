"""Embedder card loading, checksum refusal, preprocessing and pooling, and the real ORT path."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tagger.exceptions import ModelChecksumError, ModelError
from tagger.linking.card import load_embedder_card, verified_model_file
from tagger.linking.embedder import OnnxEmbedder, pool, preprocess
from tagger.models.registry import sha256_file
from tests.tagger.linking.factories import encoder_card, tiny_encoder

REPO_CARD = Path(__file__).resolve().parents[3] / "models" / "mobilenetv2-embedder.toml"


@pytest.fixture
def carded_encoder(tmp_path: Path) -> Path:
    model = tiny_encoder(tmp_path / "tiny.onnx")
    return encoder_card(tmp_path / "tiny.toml", "tiny.onnx", sha256_file(model))


def test_repository_card_describes_the_mobilenet_feature_map() -> None:
    card = load_embedder_card(REPO_CARD)

    assert (card.name, card.width, card.height, card.rgb, card.feature_map, card.pooling, card.dim) == (
        "mobilenetv2-embedder",
        224,
        224,
        True,
        True,
        "gem",
        1280,
    )


def test_card_of_another_kind_is_refused(tmp_path: Path) -> None:
    card = tmp_path / "detector.toml"
    card.write_text(
        'name = "x"\nkind = "detector"\nfile = "x.onnx"\nsha256 = "' + "0" * 64 + '"\nlicence = "MIT"\n',
        encoding="utf-8",
    )

    with pytest.raises(ModelError, match="not 'image-embedder'"):
        load_embedder_card(card)


def test_card_with_bad_layout_names_the_field(carded_encoder: Path) -> None:
    carded_encoder.write_text(carded_encoder.read_text().replace('layout = "NCHW"', 'layout = "NHWC"'))

    with pytest.raises(ModelError, match="output layout must be NCHW or NC"):
        load_embedder_card(carded_encoder)


def test_missing_model_file_is_refused_with_what_to_do(carded_encoder: Path, tmp_path: Path) -> None:
    card = load_embedder_card(carded_encoder)

    with pytest.raises(ModelError, match="is not in"):
        verified_model_file(card, tmp_path / "elsewhere")


def test_corrupt_model_file_is_refused(carded_encoder: Path, tmp_path: Path) -> None:
    (tmp_path / "tiny.onnx").write_bytes(b"not the model")

    with pytest.raises(ModelChecksumError):
        OnnxEmbedder.from_card(carded_encoder, tmp_path)


def test_preprocess_resizes_swaps_channels_and_normalizes(carded_encoder: Path) -> None:
    card = load_embedder_card(carded_encoder)
    blue = np.zeros((40, 30, 3), dtype=np.uint8)
    blue[:, :, 0] = 255  # BGR blue

    batch = preprocess([blue], card)

    assert batch.shape == (1, 3, 16, 16)
    np.testing.assert_allclose(batch[0, :, 0, 0], [-2.0, -2.0, 2.0], atol=1e-5)  # RGB, (x-0.5)/0.25


def test_pooling_variants_return_unit_vectors() -> None:
    card = load_embedder_card(REPO_CARD)
    feature_map = np.zeros((1, 2, 2, 2), dtype=np.float32)
    feature_map[0, 0] = [[4.0, 0.0], [0.0, 0.0]]
    feature_map[0, 1] = [[1.0, 1.0], [1.0, 1.0]]

    mean = pool(feature_map, dataclasses.replace(card, pooling="mean"))
    maximum = pool(feature_map, dataclasses.replace(card, pooling="max"))
    gem = pool(feature_map, dataclasses.replace(card, pooling="gem"))

    np.testing.assert_allclose(mean, [[1 / np.sqrt(2), 1 / np.sqrt(2)]], atol=1e-6)
    np.testing.assert_allclose(maximum, [[4 / np.sqrt(17), 1 / np.sqrt(17)]], atol=1e-6)
    assert mean[0, 0] < gem[0, 0] < maximum[0, 0]  # GeM sits between mean and max


def test_pooled_output_of_wrong_rank_is_a_model_error() -> None:
    card = load_embedder_card(REPO_CARD)

    with pytest.raises(ModelError, match="expected an NCHW output"):
        pool(np.zeros((1, 1280), dtype=np.float32), card)


def test_onnx_embedder_runs_the_model_and_pools(carded_encoder: Path, tmp_path: Path) -> None:
    embedder = OnnxEmbedder.from_card(carded_encoder, tmp_path)
    red = np.zeros((20, 20, 3), dtype=np.uint8)
    red[:, :, 2] = 255

    vectors = embedder.embed([red, red])

    expected = np.array([2.0, -2.0, -2.0]) / np.sqrt(12.0)
    np.testing.assert_allclose(vectors, [expected, expected], atol=1e-5)
    assert embedder.embed([]).shape == (0, 3)
