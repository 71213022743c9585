"""The "patch" signal: sizing, cell selection under a packshot mask, chamfer similarity, and the
real ONNX Runtime path through an intermediate tensor named by the card."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from tagger.exceptions import ModelError
from tagger.linking.cache import features_from_arrays, features_to_arrays
from tagger.linking.card import load_embedder_card
from tagger.linking.embedder import OnnxEmbedder
from tagger.linking.features import ImageFeatures
from tagger.linking.keypoints import LocalFeatures
from tagger.linking.linker import ShortlistConfig, rows_to_verify
from tagger.linking.patches import cells, patch_input_size, patch_similarities, patch_similarity
from tagger.models.registry import sha256_file
from tests.tagger.linking.factories import encoder_card, patch_encoder, tiny_encoder

REPO_CARD = Path(__file__).resolve().parents[3] / "models" / "mobilenetv2-embedder.toml"
PATCHES = '[patches]\noutput = "mid"\nside = 64\ndim = 3'


def unit_rows(rows: list[list[float]]) -> NDArray[np.float32]:
    array = np.asarray(rows, dtype=np.float32)
    return np.asarray(array / np.linalg.norm(array, axis=1, keepdims=True), dtype=np.float32)


@pytest.mark.parametrize(
    ("size", "side", "expected"),
    [((348, 261), 224, (224, 160)), ((198, 198), 224, (224, 224)), ((10, 1000), 224, (32, 224))],
)
def test_patch_input_keeps_the_aspect_in_multiples_of_32(
    size: tuple[int, int], side: int, expected: tuple[int, int]
) -> None:
    assert patch_input_size(*size, side) == expected


def test_cells_are_unit_rows_and_a_mask_keeps_only_cells_touching_the_product() -> None:
    feature_map = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4) + 1.0
    mask = np.zeros((40, 40), dtype=np.uint8)
    mask[:20, :20] = 255  # the top-left quarter: cells (0,0), (0,1), (1,0), (1,1)

    every = cells(feature_map)
    kept = cells(feature_map, mask)

    assert every.shape == (16, 2)
    np.testing.assert_allclose(np.linalg.norm(every, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(kept, every[[0, 1, 4, 5]])


def test_a_mask_touching_fewer_than_four_cells_keeps_them_all() -> None:
    feature_map = np.ones((2, 4, 4), dtype=np.float32)
    mask = np.zeros((40, 40), dtype=np.uint8)
    mask[0, 0] = 255

    assert cells(feature_map, mask).shape == (16, 2)


def test_patch_similarity_finds_the_packshot_cells_among_clutter() -> None:
    rng = np.random.default_rng(3)
    packshot = unit_rows(rng.normal(size=(6, 64)).tolist())
    clutter = unit_rows(rng.normal(size=(40, 64)).tolist())
    photo_with_product = np.concatenate([clutter, packshot[:5]])  # one cell of the product hidden
    other_packshot = unit_rows(rng.normal(size=(6, 64)).tolist())

    found = patch_similarity(packshot, photo_with_product)

    assert found > 0.8
    assert found > patch_similarity(other_packshot, photo_with_product) + 0.3
    assert patch_similarity(packshot, packshot) == pytest.approx(1.0)


def test_a_shortlists_patch_similarities_in_one_product_equal_one_at_a_time() -> None:
    rng = np.random.default_rng(4)
    photo = unit_rows(rng.normal(size=(40, 96)).tolist())
    packshots = [
        unit_rows(rng.normal(size=(cells_count, 96)).tolist()).astype(np.float16)
        for cells_count in (7, 1, 30)
    ]
    packshots.insert(1, np.zeros((0, 0), np.float16))  # an image with no patch descriptors

    together = patch_similarities(packshots, photo)

    alone = [float((p.astype(np.float32) @ photo.T).max(axis=1).mean()) if p.size else 0.0 for p in packshots]
    np.testing.assert_allclose(together, alone, rtol=1e-6)


def test_patch_similarity_of_nothing_is_zero_and_mismatched_widths_are_refused() -> None:
    some = unit_rows([[1.0, 0.0], [0.0, 1.0]])

    assert patch_similarity(np.zeros((0, 0), np.float32), some) == 0.0
    assert patch_similarity(some, np.zeros((0, 0), np.float32)) == 0.0
    with pytest.raises(ValueError, match="differ in width"):
        patch_similarity(some, unit_rows([[1.0, 0.0, 0.0]]))


def test_repository_card_names_a_mid_level_map_for_patches() -> None:
    card = load_embedder_card(REPO_CARD)

    assert (card.patch_output, card.patch_side, card.patch_dim) == ("/12/Add_output_0", 224, 96)


def test_a_card_with_a_bad_patches_table_is_refused(tmp_path: Path) -> None:
    model = tiny_encoder(tmp_path / "tiny.onnx")
    bad = '[patches]\noutput = "mid"\nside = 8\ndim = 3'
    card = encoder_card(tmp_path / "tiny.toml", "tiny.onnx", sha256_file(model), patches=bad)

    with pytest.raises(ModelError, match=r"\[patches\] needs 32 <= side"):
        load_embedder_card(card)


def test_onnx_embedder_reads_patches_from_the_named_tensor_at_the_image_aspect(tmp_path: Path) -> None:
    model = patch_encoder(tmp_path / "patch.onnx")
    card = encoder_card(tmp_path / "patch.toml", "patch.onnx", sha256_file(model), patches=PATCHES)
    embedder = OnnxEmbedder.from_card(card, tmp_path)
    # 32 wide, 64 high: at side 64 the input is 32x64 (not the card's fixed 16x16), the map 8x16.
    image = np.zeros((64, 32, 3), dtype=np.uint8)
    image[:, :, 2] = 255  # red (BGR)
    image[32:, :, :] = (255, 0, 0)  # the bottom half blue
    mask = np.zeros((64, 32), dtype=np.uint8)
    mask[:32] = 255  # the product is the red top half

    every = embedder.patches(image)
    product = embedder.patches(image, mask)

    red = np.array([2.0, -2.0, -2.0]) / np.sqrt(12.0)
    assert every.shape == (8 * 16, 3)
    assert product.shape == (8 * 8, 3)
    np.testing.assert_allclose(product, np.tile(red, (64, 1)), atol=1e-5)
    assert embedder.embed([image]).shape == (1, 3)  # the pooled path still runs at the card's 16x16
    assert "patches:mid@64" in embedder.name


def test_a_card_naming_a_tensor_the_graph_lacks_is_refused_at_load(tmp_path: Path) -> None:
    model = tiny_encoder(tmp_path / "tiny.onnx")
    card = encoder_card(tmp_path / "tiny.toml", "tiny.onnx", sha256_file(model), patches=PATCHES)

    with pytest.raises(ModelError, match="has no tensor named 'mid'"):
        OnnxEmbedder.from_card(card, tmp_path)


def test_an_embedder_without_patches_says_so(tmp_path: Path) -> None:
    model = tiny_encoder(tmp_path / "tiny.onnx")
    embedder = OnnxEmbedder.from_card(
        encoder_card(tmp_path / "tiny.toml", "tiny.onnx", sha256_file(model)), tmp_path
    )

    assert not embedder.has_patches
    with pytest.raises(ModelError, match="no \\[patches\\] table"):
        embedder.patches(np.zeros((32, 32, 3), dtype=np.uint8))


def test_patches_survive_the_index_and_cache_serialization() -> None:
    rows = unit_rows(np.random.default_rng(1).normal(size=(5, 96)).tolist())
    features = ImageFeatures(
        embeddings=unit_rows([[1.0, 0.0]]),
        colour=np.full(4, 0.5, np.float32),
        local=LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32)),
        patches=rows,
    )

    restored = features_from_arrays(features_to_arrays(features, prefix="0/"), prefix="0/")

    np.testing.assert_allclose(restored.patches, rows, atol=1e-3)
    assert restored.patches.dtype == np.float16  # stored, and kept in memory, in half precision


def test_keypoint_verification_goes_to_the_rows_with_the_best_patch_similarity() -> None:
    patches = np.array([0.40, 0.55, 0.30, 0.55, 0.50])

    assert rows_to_verify(patches, True, 2).tolist() == [False, True, False, True, False]
    assert rows_to_verify(patches, True, 9).all()
    assert rows_to_verify(patches, False, 2).all()  # nothing to rank by: verify every row


def test_a_shortlist_verifying_no_row_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ShortlistConfig(verify=0)
