"""`scripts/build_episode_eval.py`: a product-free shot never shows what the catalog sells, and
excluding such frames leaves every product shot as it was."""

from __future__ import annotations

import dataclasses
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


def plan_inputs(folder: Path) -> tuple[list[tuple[Path, int]], dict[int, str], list[Path]]:
    """`plan_shots`'s photos (3 of each of 8 products), SKUs and 24 product-free frames (never read)."""
    photos = [(folder / f"photo-{class_id}-{n}.jpg", class_id) for class_id in range(8) for n in range(3)]
    skus = {class_id: f"GS-{class_id:02d}" for class_id in range(8)}
    return photos, skus, [folder / f"clip-{n}.png" for n in range(24)]


def test_fewer_product_free_frames_change_only_the_product_free_shots(
    builder: ModuleType, tmp_path: Path
) -> None:
    photos, skus, all_frames = plan_inputs(tmp_path)

    before = builder.plan_shots(1, photos, skus, all_frames, 30)
    after = builder.plan_shots(1, photos, skus, all_frames[6:], 30)

    for old, new in zip(before, after, strict=True):
        if old.sku is None:
            assert new.sku is None
            assert new.image in all_frames[6:]
        else:
            assert new == old
    assert sum(shot.sku is None for shot in after) == 6


def test_a_scene_photo_is_one_no_episode_shows_first_in_the_datasets_order(
    builder: ModuleType, tmp_path: Path
) -> None:
    photos = [(tmp_path / f"photo-{class_id}-{n}.jpg", class_id) for class_id in range(3) for n in range(3)]
    skus = {class_id: f"GS-{class_id:02d}" for class_id in range(3)}
    shown = {tmp_path / "photo-0-0.jpg", tmp_path / "photo-1-0.jpg", tmp_path / "photo-1-1.jpg"}
    shown |= {tmp_path / f"photo-2-{n}.jpg" for n in range(3)}

    scenes = builder.scene_photos(photos, shown, skus)

    assert scenes == {"GS-00": tmp_path / "photo-0-1.jpg", "GS-01": tmp_path / "photo-1-2.jpg"}


def test_the_scene_catalog_imports_with_the_packshot_first_and_the_scene_photo_second(
    builder: ModuleType, tmp_path: Path
) -> None:
    from api.catalog.importing import parse_catalog  # noqa: PLC0415 - the brand's import reads it

    catalog = tmp_path / "CATALOG.csv"
    catalog.write_text(
        "sku,title,price,currency,vendor,description,image\n"
        "GS-00,Golden Delicious,36.90,SEK,,Sweet.,/data/golden.jpg\n"
        'GS-01,Arla Standard Milk,16.90,SEK,Arla Ko,"Fresh, round.",/data/arla.jpg\n',
        encoding="utf-8",
    )
    scene = tmp_path / "arla-in-store.jpg"

    builder.write_scene_catalog(catalog, {"GS-01": scene}, [0, 1, 2], 30, tmp_path / "CATALOG-SCENES.json")

    items = parse_catalog((tmp_path / "CATALOG-SCENES.json").read_text(encoding="utf-8"), fmt="json")
    assert [[ref for _, ref in item.local_images] for item in items] == [
        ["/data/golden.jpg"],
        ["/data/arla.jpg", str(scene.resolve())],
    ]
    assert [variant.sku for item in items for variant in item.product.variants] == ["GS-00", "GS-01"]
    assert items[1].product.description == "Fresh, round."


def test_the_own_print_catalog_imports_with_each_marked_products_boxes(
    builder: ModuleType, tmp_path: Path
) -> None:
    from api.catalog.importing import parse_catalog  # noqa: PLC0415 - the brand's import reads it

    catalog = tmp_path / "CATALOG.csv"
    catalog.write_text(
        "sku,title,price,currency,vendor,description,image\n"
        "GS-00,Golden Delicious,36.90,SEK,,Sweet.,/data/golden.jpg\n"
        "GS-57,Yoggi Strawberry Yoghurt,21.90,SEK,Yoggi,,/data/yoggi.jpg\n",
        encoding="utf-8",
    )

    marks = tmp_path / "marks.csv"
    with builder.OWN_PRINT_MARKS.open(encoding="utf-8") as handle:  # the header and Yoggi Strawberry's row
        marks.write_text("".join(line for line in handle if line.startswith(("product,", "Yoggi-Straw"))))

    marked = builder.write_own_print_catalog(catalog, marks, tmp_path / "CATALOG-OWN-PRINT.csv")

    items = parse_catalog((tmp_path / "CATALOG-OWN-PRINT.csv").read_text(encoding="utf-8"), fmt="csv")
    assert marked == 1
    assert items[0].product.own_print == []
    assert items[1].product.own_print == [
        (0.42, 0.31, 0.57, 0.54),
        (0.55, 0.3, 0.7, 0.62),
        (0.33, 0.64, 0.43, 0.95),
    ]


def test_marks_of_a_product_the_catalog_lacks_stop_the_build(builder: ModuleType, tmp_path: Path) -> None:
    catalog = tmp_path / "CATALOG.csv"
    catalog.write_text(
        "sku,title,price,currency,vendor,description,image\n"
        "GS-00,Golden Delicious,36.90,SEK,,Sweet.,/g.jpg\n",
        encoding="utf-8",
    )

    with pytest.raises(SystemExit, match=r"marks products .* does not have: Alpro-Blueberry-Soyghurt"):
        builder.write_own_print_catalog(catalog, builder.OWN_PRINT_MARKS, tmp_path / "CATALOG-OWN-PRINT.csv")


def test_every_marked_product_of_the_benchmark_is_a_grocery_store_product_with_valid_boxes(
    builder: ModuleType,
) -> None:
    import csv  # noqa: PLC0415

    from tagger.linking.own_print import parse_own_print  # noqa: PLC0415

    with builder.OWN_PRINT_MARKS.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 31  # GroceryStoreDataset's packaged products, each marked or said why not
    for row in rows:
        boxes = parse_own_print(row["own_print"])
        assert row["marks"], row["product"]
        assert bool(boxes) != row["marks"].startswith("none:"), row["product"]


def test_entering_products_keep_the_plain_episodes_shots_and_come_into_view_mid_shot(
    builder: ModuleType, tmp_path: Path
) -> None:
    photos, skus, frames = plan_inputs(tmp_path)
    plain = builder.plan_shots(2, photos, skus, frames, 30)

    entering = builder.entering(plain, 2)

    low, high = builder.ENTER_AFTER_MS
    for before, after in zip(plain, entering, strict=True):
        assert before.enter_ms is None
        if before.sku is None:
            assert after == before
        else:
            assert after == dataclasses.replace(before, enter_ms=after.enter_ms)
            assert low <= after.enter_ms <= high < before.duration_ms
    assert builder.entering(plain, 2) == entering  # the same seed, the same entries


def test_joined_shots_keep_the_plain_episodes_shots_and_bring_in_another_product_mid_shot(
    builder: ModuleType, tmp_path: Path
) -> None:
    photos, skus, frames = plan_inputs(tmp_path)
    plain = builder.plan_shots(2, photos, skus, frames, 30)

    joined = builder.joined(plain, 2)

    low, high = builder.ENTER_AFTER_MS
    products = [spec for spec in plain if spec.sku is not None]
    for before, after in zip(plain, joined, strict=True):
        if before.sku is None:
            assert after == before
            continue
        assert after == dataclasses.replace(before, joined_by=after.joined_by)
        assert after.joined_by is not None
        assert after.joined_by.sku != before.sku
        assert (after.joined_by.image, after.joined_by.sku) in {(spec.image, spec.sku) for spec in products}
        assert low <= after.joined_by.enter_ms <= high < before.duration_ms
    assert builder.joined(plain, 2) == joined  # the same seed, the same shots


def test_wide_shots_keep_the_plain_episodes_shots_and_inset_each_product_in_a_product_free_scene(
    builder: ModuleType, tmp_path: Path
) -> None:
    photos, skus, frames = plan_inputs(tmp_path)
    plain = builder.plan_shots(2, photos, skus, frames, 30)

    wide = builder.widened(plain, 2, frames)

    low, high = builder.WIDE_SHARE
    for before, after in zip(plain, wide, strict=True):
        assert before.inset is None
        if before.sku is None:
            assert after == before
            continue
        assert after == dataclasses.replace(before, inset=after.inset)
        assert after.inset is not None
        assert after.inset.scene in frames
        assert low <= after.inset.share <= high
        assert builder.WIDE_CENTRE_X[0] <= after.inset.centre[0] <= builder.WIDE_CENTRE_X[1]
        assert builder.WIDE_CENTRE_Y[0] <= after.inset.centre[1] <= builder.WIDE_CENTRE_Y[1]
    assert builder.widened(plain, 2, frames) == wide  # the same seed, the same insets
    assert len({spec.inset.share for spec in wide if spec.inset is not None}) > 1
