"""Build the linking evaluation CSVs from GroceryStoreDataset (../shared/data/grocery-dev).

    .venv/bin/python scripts/build_grocery_eval.py [--data ../shared/data/grocery-dev] [--out var/eval]

Writes, with image paths relative to each CSV (absolute paths into the read-only data folder):
  CATALOG.csv           sku,title,brand,image,description   all 81 packshots; the description is the
                        dataset's English and Swedish product texts (a Swedish shop's catalog has both;
                        the packaging print is Swedish), the brand is the manufacturer line
  QUERIES.csv           image,sku,group               every val photo (group: Packages/Fruit/Vegetables)
  QUERIES_PACKAGED.csv  image,sku,group               the val photos of the branded packaged products
  CATALOG-OWN-PRINT.csv CATALOG.csv with an `own_print` column: each packaged product's own print as
                        marked in scripts/data/grocery_own_print.csv (BENCHMARKS.md, End to end)
"""

from __future__ import annotations

import argparse
import csv
import os
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# The part of each GroceryStoreDataset packaged product's packshot only it prints, by dataset name.
OWN_PRINT_MARKS = Path(__file__).resolve().parent / "data" / "grocery_own_print.csv"


def default_data_dir() -> Path:
    shared = os.environ.get("REELCART_SHARED_DIR")
    base = Path(shared) if shared else REPO_ROOT.parent / "shared"
    return base / "data" / "grocery-dev"


def relative(path: Path, start: Path) -> str:
    return os.path.relpath(path.resolve(), start.resolve())


def swedish_description(english: Path) -> str:
    """The Swedish product text beside the English one, without its trailing shop URL."""
    path = english.with_name(english.name.replace("_Description.txt", "_Description_Swedish.txt"))
    if not path.is_file():
        return ""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return " ".join(line for line in lines if line and not line.startswith("http"))


def brand_of(english: Path) -> str:
    """The manufacturer from the Information file ('Manufacturer and volume: ARLA KO , 1l'), or ''."""
    path = english.with_name(english.name.replace("_Description.txt", "_Information.txt"))
    if not path.is_file():
        return ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("Manufacturer and volume:"):
            return line.split(":", 1)[1].split(",")[0].strip().title()
    return ""


def build(data: Path, out: Path) -> tuple[int, int, int]:
    out.mkdir(parents=True, exist_ok=True)
    with (data / "classes.csv").open(encoding="utf-8") as handle:
        classes = list(csv.reader(handle))[1:]
    sku_by_id: dict[int, tuple[str, str]] = {}
    with (out / "CATALOG.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "title", "brand", "image", "description"])
        for name, class_id, _coarse, _coarse_id, image, description in classes:
            image_path = data / image.lstrip("/")
            group = image.lstrip("/").split("/")[1]
            english = data / description.lstrip("/")
            texts = [english.read_text(encoding="utf-8").strip(), swedish_description(english)]
            sku_by_id[int(class_id)] = (name, group)
            writer.writerow(
                [
                    name,
                    name.replace("-", " "),
                    brand_of(english),
                    relative(image_path, out),
                    " ".join(filter(None, texts)),
                ]
            )
    rows = []
    for line in (data / "val.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        path, class_id, _coarse = (part.strip() for part in line.split(","))
        sku, group = sku_by_id[int(class_id)]
        rows.append([relative(data / path, out), sku, group])
    for name, subset in (
        ("QUERIES.csv", rows),
        ("QUERIES_PACKAGED.csv", [r for r in rows if r[2] == "Packages"]),
    ):
        with (out / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["image", "sku", "group"])
            writer.writerows(subset)
    return len(classes), len(rows), sum(1 for r in rows if r[2] == "Packages")


def write_marked_catalog(
    catalog_csv: Path, marks_csv: Path, target: Path, *, name_of: Callable[[dict[str, str]], str]
) -> int:
    """`catalog_csv` with an `own_print` column from `marks_csv` (keyed by the dataset name `name_of`
    reads from a row); returns how many products have some. Marks of a product the catalog lacks stop
    the build: they would silently mark nothing."""
    with marks_csv.open(encoding="utf-8", newline="") as handle:
        marks = {row["product"]: row["own_print"] for row in csv.DictReader(handle)}
    with catalog_csv.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = [name for name in reader.fieldnames or () if name != "own_print"]
        rows = list(reader)
    names = {name_of(row) for row in rows}
    if unknown := sorted(set(marks) - names):
        raise SystemExit(
            f"error: {marks_csv} marks products {catalog_csv} does not have: {', '.join(unknown)}"
        )
    marked = 0
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*fields, "own_print"])
        writer.writeheader()
        for row in rows:
            boxes = marks.get(name_of(row), "")
            marked += bool(boxes)
            writer.writerow({**{name: row[name] for name in fields}, "own_print": boxes})
    return marked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "var" / "eval")
    args = parser.parse_args()
    if not (args.data / "classes.csv").is_file():
        raise SystemExit(f"grocery-dev not found at {args.data} (set --data or REELCART_SHARED_DIR)")
    products, queries, packaged = build(args.data, args.out)
    print(f"{args.out}: {products} catalog products, {queries} queries ({packaged} of packaged products)")
    marked = write_marked_catalog(
        args.out / "CATALOG.csv",
        OWN_PRINT_MARKS,
        args.out / "CATALOG-OWN-PRINT.csv",
        name_of=lambda row: row["sku"],
    )
    print(f"catalog with own-print marks: {args.out / 'CATALOG-OWN-PRINT.csv'} ({marked} products marked)")


if __name__ == "__main__":
    main()
