"""Evaluation inputs: CATALOG.csv (`sku,title,image[,description,own_print]`) and QUERIES.csv
(`image,sku[,group]`); image paths are relative to the CSV that names them."""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

from tagger.linking.catalog import CatalogItem
from tagger.linking.errors import EvaluationInputError
from tagger.linking.own_print import OwnPrintError, parse_own_print


@dataclass(frozen=True, slots=True)
class Query:
    image: Path
    sku: str
    group: str = "all"


def _rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as error:
        raise EvaluationInputError(
            f"cannot open {path}: {error.strerror or error}", path=str(path)
        ) from error
    with handle:
        reader = csv.DictReader(handle)
        columns = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in required if name not in columns]
        if missing:
            raise EvaluationInputError(
                f"{path} lacks column(s) {', '.join(missing)} (has: {', '.join(columns) or 'none'})",
                path=str(path),
            )
        rows = [
            (number, {key.strip(): (value or "").strip() for key, value in row.items() if key is not None})
            for number, row in enumerate(reader, start=2)
        ]
    if not rows:
        raise EvaluationInputError(f"{path} has a header but no rows", path=str(path))
    return rows


def read_catalog_csv(path: Path) -> list[CatalogItem]:
    """Catalog rows grouped by SKU (several rows may give several images of one SKU)."""
    grouped: dict[str, CatalogItem] = {}
    for number, row in _rows(path, ("sku", "title", "image")):
        sku = row["sku"]
        if not sku:
            raise EvaluationInputError(f"{path}:{number}: empty sku", path=str(path), line=number)
        image = (path.parent / row["image"]) if row["image"] else None
        images = (image,) if image is not None else ()
        try:
            own_print = parse_own_print(row.get("own_print", ""))
        except OwnPrintError as error:
            raise EvaluationInputError(
                f"{path}:{number}: own_print: {error}", path=str(path), line=number
            ) from error
        if sku in grouped:
            known = grouped[sku]
            if own_print and known.own_print and own_print != known.own_print:
                problem = (
                    f"{path}:{number}: own_print differs from {sku}'s earlier row (a product has one set)"
                )
                raise EvaluationInputError(problem, path=str(path), line=number)
            grouped[sku] = replace(
                known, images=known.images + images, own_print=known.own_print or own_print
            )
        else:
            # "vendor" is what the import CSV of `reelcart catalog import` calls the brand.
            brand = row.get("brand") or row.get("vendor", "")
            grouped[sku] = CatalogItem(
                sku, row["title"], brand, row.get("description", ""), images, own_print
            )
    return list(grouped.values())


def read_queries_csv(path: Path) -> list[Query]:
    queries = []
    for number, row in _rows(path, ("image", "sku")):
        if not row["image"] or not row["sku"]:
            raise EvaluationInputError(
                f"{path}:{number}: image and sku are required", path=str(path), line=number
            )
        queries.append(Query(path.parent / row["image"], row["sku"], row.get("group") or "all"))
    return queries
