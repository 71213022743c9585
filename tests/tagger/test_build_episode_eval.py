"""`scripts/build_episode_eval.py`: a product-free shot never shows what the catalog sells, and
excluding such frames leaves every product shot as it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.utils.scripts import script_module


@pytest.fixture(scope="module")
def builder() -> Iterator[ModuleType]:
    with script_module("build_episode_eval") as module:
        yield module


def extracted(folder: Path, clips: list[str]) -> None:
    folder.mkdir()
    for clip in clips:
        for number in range(3):
            (folder / f"{clip}-{number}.png").write_bytes(b"")


def test_frames_of_a_clip_showing_catalog_produce_are_never_drawn(
    builder: ModuleType, tmp_path: Path
) -> None:
    extracted(
        tmp_path / "frames", ["fruit-and-vegetable-detection", "people-detection", "store-aisle-detection"]
    )

    frames = builder.product_free_frames(tmp_path / "videos-not-read-when-extracted", tmp_path / "frames")

    assert [frame.name for frame in frames] == [
        *(f"people-detection-{n}.png" for n in range(3)),
        *(f"store-aisle-detection-{n}.png" for n in range(3)),
    ]
    assert "fruit-and-vegetable-detection" in builder.CLIPS_SHOWING_CATALOG_PRODUCTS


def test_fewer_product_free_frames_change_only_the_product_free_shots(
    builder: ModuleType, tmp_path: Path
) -> None:
    photos = [(tmp_path / f"photo-{class_id}-{n}.jpg", class_id) for class_id in range(8) for n in range(3)]
    skus = {class_id: f"GS-{class_id:02d}" for class_id in range(8)}
    all_frames = [tmp_path / f"clip-{n}.png" for n in range(24)]

    before = builder.plan_shots(1, photos, skus, all_frames, 30)
    after = builder.plan_shots(1, photos, skus, all_frames[6:], 30)

    for old, new in zip(before, after, strict=True):
        if old.sku is None:
            assert new.sku is None
            assert new.image in all_frames[6:]
        else:
            assert new == old
    assert sum(shot.sku is None for shot in after) == 6
