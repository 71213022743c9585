"""The demo's grocery catalog: what a shopper's sheet will name as each product's vendor."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tagger.demo_media import grocery_vendor, write_grocery_catalog

GOD_MORGON_FACTS = (
    "Title: Apelsinjuice \nManufacturer and volume: GOD MORGON , 1l \nManufacturing country: Denmark\n"
)


@pytest.mark.parametrize(
    ("title", "information", "vendor"),
    [
        # a two-word brand, spelled as the title spells it (not as the label shouts it)
        ("God Morgon Orange Juice", GOD_MORGON_FACTS, "God Morgon"),
        # the manufacturer line adds words the title does not have: the title's brand word stays alone
        ("Arla Mild Vanilla Yoghurt", "Manufacturer and volume: ARLA KO , 1kg \n", "Arla"),
        ("Garant Ecological Standard Milk", "Manufacturer and volume: GARANT EKO , 1l \n", "Garant"),
        ("Oatly Oat Milk", "Manufacturer and volume: OATLY , 1l \n", "Oatly"),
        # no manufacturer line (or no information file): the title's first word
        ("Bravo Apple Juice", "", "Bravo"),
        ("Bravo Apple Juice", "Manufacturer and volume: SOMEONE ELSE , 2l\n", "Bravo"),
    ],
)
def test_the_vendor_is_the_titles_leading_words_the_manufacturer_line_repeats(
    title: str, information: str, vendor: str
) -> None:
    assert grocery_vendor(title, information) == vendor


def _dataset(root: Path) -> Path:
    """A two-product GroceryStoreDataset layout: classes.csv, descriptions and information files."""
    data = root / "data" / "grocery-dev"
    rows = []
    for name, class_id, kind, facts in [
        ("God-Morgon-Orange-Juice", 31, "Juice", GOD_MORGON_FACTS),
        ("Valio-Vanilla-Yoghurt", 56, "Yoghurt", None),
    ]:
        folder = data / "iconic-images-and-descriptions" / "Packages" / kind / name
        folder.mkdir(parents=True)
        (folder / f"{name}_Description.txt").write_text(f"{name} description", encoding="utf-8")
        if facts is not None:
            (folder / f"{name}_Information.txt").write_text(facts, encoding="utf-8")
        base = f"/iconic-images-and-descriptions/Packages/{kind}/{name}/{name}"
        rows.append([name, class_id, kind, 0, f"{base}_Iconic.jpg", f"{base}_Description.txt"])
    with (data / "classes.csv").open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(
            [["Class Name (str)", "Class ID (int)", "Coarse", "Id", "Iconic", "Desc"], *rows]
        )
    return root


def test_the_catalog_csv_names_god_morgon_whole(tmp_path: Path) -> None:
    # Given the dataset's layout, God Morgon with its information file and Valio without one
    shared = _dataset(tmp_path / "shared")

    # When the demo writes its catalog
    catalog = write_grocery_catalog(shared, tmp_path / "out")

    # Then each product's vendor is its brand, whole
    with catalog.open(encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    assert [(row["sku"], row["title"], row["vendor"]) for row in rows] == [
        ("GS-31", "God Morgon Orange Juice", "God Morgon"),
        ("GS-56", "Valio Vanilla Yoghurt", "Valio"),
    ]


@pytest.mark.shared
def test_the_real_dataset_gives_every_packaged_product_its_brand(shared_dir: Path, tmp_path: Path) -> None:
    catalog = write_grocery_catalog(shared_dir, tmp_path)
    with catalog.open(encoding="utf-8") as source:
        vendors = {row["title"]: row["vendor"] for row in csv.DictReader(source)}
    assert len(vendors) == 31
    assert {title: vendor for title, vendor in vendors.items() if title.startswith("God Morgon")} == {
        "God Morgon Apple Juice": "God Morgon",
        "God Morgon Orange Juice": "God Morgon",
        "God Morgon Orange Red Grapefruit Juice": "God Morgon",
        "God Morgon Red Grapefruit Juice": "God Morgon",
    }
    assert set(vendors.values()) == {
        "Alpro",
        "Arla",
        "Bravo",
        "Garant",
        "God Morgon",
        "Oatly",
        "Tropicana",
        "Valio",
        "Yoggi",
    }
