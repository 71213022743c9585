"""Bulk catalog import from CSV or JSON: every line checked first, then all imported or nothing.

CSV columns: `sku,title,price,currency` required; `product_key, variant_title, vendor, description,
available, image, own_print` optional. Rows sharing a `product_key` (or, without one, a `title`) become
variants of one product. `image` is an http(s) URL, or for the CLI a path relative to the file.
`own_print` (on any of a product's rows; rows that give it must agree) is "x0 y0 x1 y1; …": boxes,
in fractions of the product's first image, around the print only it has (`tagger.linking.own_print`).
A line number is the physical line a record starts on (a quoted value may span lines; blank lines
count); any line ending is read. A header column with no name (a spreadsheet's trailing comma) is
ignored while no row gives it a value.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from api.catalog.models import ProductImage
from api.catalog.schemas import (
    MAX_PRODUCT_IMAGES,
    MAX_PRODUCT_VARIANTS,
    ImageByUrl,
    ImportLineError,
    ImportReport,
    ProductCreate,
    VariantCreate,
)
from api.catalog.service import bind_own_print, create_product, taken_skus
from tagger.linking.own_print import Box, OwnPrintError, parse_own_print

REQUIRED_COLUMNS = ("sku", "title", "price", "currency")
OPTIONAL_COLUMNS = (
    "product_key",
    "variant_title",
    "vendor",
    "description",
    "available",
    "image",
    "own_print",
)
_TRUE = {"1", "true", "yes", "y", "t", ""}
_FALSE = {"0", "false", "no", "n", "f"}
MAX_IMPORT_LINES = 100_000


class CatalogImportError(Exception):
    """The file has errors; nothing was imported."""

    def __init__(self, errors: list[ImportLineError]) -> None:
        super().__init__(f"{len(errors)} error(s) in the catalog file; nothing was imported")
        self.errors = errors


@dataclass
class ImportItem:
    line: int | str
    product: ProductCreate
    local_images: list[tuple[int | str, str]] = field(default_factory=list)
    # Where each variant's SKU was given, when that is not `line` (a CSV product's rows).
    sku_lines: dict[str, int | str] = field(default_factory=dict)


def parse_catalog(text: str, *, fmt: str) -> list[ImportItem]:
    """Parse `fmt` ("csv" or "json"); raise `CatalogImportError` listing every bad line."""
    if fmt == "csv":
        return _parse_csv(text)
    if fmt == "json":
        return _parse_json(text)
    raise CatalogImportError([ImportLineError(line=0, field="format", message=f"unknown format {fmt!r}")])


def _parse_csv(text: str) -> list[ImportItem]:
    # The csv module refuses fields over 128 KiB with an error that names no line or column; the
    # body limit already bounds the text, so let a long field through to the per-field checks (a
    # 200,000-character title is then "line 3, title: at most 300 characters").
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    # Universal newlines, as the CLI reads its file: "\r\n", "\n" and an old Mac's bare "\r" alike.
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=None))

    def records() -> Iterator[tuple[int, list[str]]]:
        # Each record with the physical line it starts on (a quoted value may span lines, and the
        # reader counts the lines it read); blank lines are skipped, and counted.
        line_num = 0
        for values in reader:
            start, line_num = line_num + 1, reader.line_num
            if values:
                yield start, values

    try:
        return _parse_csv_rows(records())
    except csv.Error as error:
        raise CatalogImportError(
            [ImportLineError(line=reader.line_num, field="", message=f"malformed CSV: {error}")]
        ) from error


@dataclass(frozen=True)
class _Header:
    """The header line's column names. A spreadsheet's trailing comma names an empty column ("sku,
    title,price,currency,"): a column without a name is ignored while it holds nothing."""

    line: int
    names: list[str]

    @classmethod
    def read(cls, records: Iterator[tuple[int, list[str]]]) -> tuple[_Header, list[ImportLineError]]:
        """The first record as the header, and its unknown columns; raise when a required one is missing."""
        line, names = next(records, (1, []))
        header = cls(line, [name.strip() for name in names])
        missing = [name for name in REQUIRED_COLUMNS if name not in header.names]
        if missing:
            raise CatalogImportError(
                [
                    ImportLineError(line=line, field=name, message="required column is missing")
                    for name in missing
                ]
            )
        known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
        unknown = [name for name in header.names if name and name not in known]
        return header, [ImportLineError(line=line, field=name, message="unknown column") for name in unknown]

    def row(self, line: int, values: list[str]) -> dict[str, str] | ImportLineError:
        """A record's values by column name ("" for those it leaves out), or why it has none."""
        if len(values) > len(self.names):
            return ImportLineError(line=line, field="", message="more values than columns")
        unnamed = [
            number
            for number, (name, value) in enumerate(zip(self.names, values, strict=False), start=1)
            if not name and value.strip()
        ]
        if unnamed:
            which = ", ".join(str(number) for number in unnamed)
            columns = "column" if len(unnamed) == 1 else "columns"
            message = (
                f"a value in {columns} {which}, which the header line leaves unnamed: name the column in "
                "the header or leave it empty"
            )
            return ImportLineError(line=line, field="", message=message)
        row = dict.fromkeys((name for name in self.names if name), "")
        row.update((name, value.strip()) for name, value in zip(self.names, values, strict=False) if name)
        return row


def _parse_csv_rows(records: Iterator[tuple[int, list[str]]]) -> list[ImportItem]:
    header, errors = _Header.read(records)
    groups: dict[str, ImportItem] = {}
    seen_skus: dict[str, int] = {}
    marks_line: dict[str, int] = {}  # the line each product's own_print came from
    grouped_by: dict[str, str] = {}  # the column whose value makes each product
    for number, (line, values) in enumerate(records, start=2):
        if number > MAX_IMPORT_LINES:
            errors.append(ImportLineError(line=line, field="", message=f"more than {MAX_IMPORT_LINES} lines"))
            break
        row = header.row(line, values)
        if isinstance(row, ImportLineError):
            errors.append(row)
            continue
        if not any(row.values()):
            continue
        variant, row_errors = _variant_from_row(row, line)
        errors.extend(row_errors)
        if variant is None:
            continue
        if variant.sku in seen_skus:
            errors.append(
                ImportLineError(
                    line=line,
                    field="sku",
                    message=f"duplicate sku {variant.sku!r} (first on line {seen_skus[variant.sku]})",
                )
            )
            continue
        seen_skus[variant.sku] = line
        own_print = _marks_from_row(row, line)
        if isinstance(own_print, ImportLineError):
            errors.append(own_print)
            continue
        key = row.get("product_key") or row["title"]
        item = groups.get(key)
        if item is None:
            try:
                product = ProductCreate(
                    title=row["title"],
                    vendor=row.get("vendor", ""),
                    description=row.get("description", ""),
                    own_print=list(own_print),
                )
            except ValidationError as error:
                errors.extend(_errors_from_validation(error, line))
                continue
            item = groups[key] = ImportItem(line=line, product=product)
            marks_line[key] = line
            grouped_by[key] = "product_key" if row.get("product_key") else "title"
        elif (problem := _merge_marks(item, own_print, line, marks_line, key)) is not None:
            errors.append(problem)
            continue
        item.product.variants.append(variant)
        item.sku_lines[variant.sku] = line
        _add_image(item, row.get("image", ""), line)
    # Variants were added to each product one row at a time: validate it whole, so that what holds
    # for a product (at most 250 variants) holds for one made of rows too.
    errors.extend(
        problem for key, item in groups.items() for problem in _validate_grouped(item, grouped_by[key])
    )
    if errors:
        raise CatalogImportError(errors)
    return list(groups.values())


def _validate_grouped(item: ImportItem, grouped_by: str) -> list[ImportLineError]:
    """Validate a CSV product whole, now that its rows gave it its variants; errors name its rows."""
    lines = [line for line in item.sku_lines.values() if isinstance(line, int)]
    rows = f"lines {_line_ranges(lines)}"
    try:
        item.product = ProductCreate.model_validate({**dict(item.product), "variants": item.product.variants})
    except ValidationError as error:
        problems = []
        for detail in error.errors():
            loc = ".".join(str(part) for part in detail["loc"]) or "row"
            if detail["loc"] == ("variants",) and detail["type"] == "too_long":
                message = (
                    f"a product has at most {MAX_PRODUCT_VARIANTS} variants; {len(lines)} rows share "
                    f"this {grouped_by} ({rows})"
                )
            else:
                message = f"{detail['msg']} (the product of {rows})"
            problems.append(ImportLineError(line=item.line, field=loc, message=message))
        return problems
    return []


def _line_ranges(lines: list[int], most: int = 8) -> str:
    """The lines as runs, "2-301" or "2, 5, 9-12"; past `most` runs, "…"."""
    runs: list[list[int]] = []
    for line in sorted(lines):
        if runs and line == runs[-1][1] + 1:
            runs[-1][1] = line
        else:
            runs.append([line, line])
    shown = [str(first) if first == last else f"{first}-{last}" for first, last in runs[:most]]
    return ", ".join(shown) + (", …" if len(runs) > most else "")


def _image_ref(image: object) -> str | None:
    """A JSON image entry's path or URL: {"path": …} (CLI files), or {"url": …} with no other key."""
    if not isinstance(image, dict):
        return None
    if isinstance(image.get("path"), str):
        return str(image["path"])
    if set(image) == {"url"} and isinstance(image["url"], str) and _is_url(image["url"]):
        return str(image["url"])
    return None


def _is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://"))


def _add_image(item: ImportItem, image: str, line: int) -> None:
    """A row's image, once per product (its variants' rows may repeat it)."""
    if image and image not in [ref for _, ref in item.local_images]:
        item.local_images.append((line, image))


def _marks_from_row(row: dict[str, str], line: int) -> tuple[Box, ...] | ImportLineError:
    try:
        return parse_own_print(row.get("own_print", ""))
    except OwnPrintError as error:
        return ImportLineError(line=line, field="own_print", message=str(error))


def _merge_marks(
    item: ImportItem, marks: tuple[Box, ...], line: int, marks_line: dict[str, int], key: str
) -> ImportLineError | None:
    """A product has one set of marks: a later row may repeat them, leave the column empty, or give
    the first marks of a product whose earlier rows had none; other marks are an error."""
    if not marks:
        return None
    if not item.product.own_print:
        item.product.own_print, marks_line[key] = list(marks), line
        return None
    if tuple(item.product.own_print) != marks:
        message = f"differs from line {marks_line[key]}'s: a product has one set of marks"
        return ImportLineError(line=line, field="own_print", message=message)
    return None


def _variant_from_row(row: dict[str, str], line: int) -> tuple[VariantCreate | None, list[ImportLineError]]:
    available_text = row.get("available", "").lower()
    if available_text not in _TRUE | _FALSE:
        return None, [ImportLineError(line=line, field="available", message="must be true or false")]
    try:
        variant = VariantCreate(
            sku=row["sku"],
            title=row.get("variant_title") or "Default",
            price=row["price"],  # pydantic parses the decimal text exactly
            currency=row["currency"],
            available=available_text in _TRUE,
        )
    except ValidationError as error:
        return None, _errors_from_validation(error, line)
    return variant, []


def _parse_json(text: str) -> list[ImportItem]:
    try:
        # A BOM, as Windows tools write one, is not part of the document (the CSV path drops it too).
        document = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as error:
        raise CatalogImportError(
            [ImportLineError(line=error.lineno, field="", message=f"malformed JSON: {error.msg}")]
        ) from error
    except RecursionError as error:  # e.g. 100,000 nested "[": no catalog is shaped like that
        raise CatalogImportError(
            [ImportLineError(line=1, field="body", message="JSON nested too deeply to be a catalog")]
        ) from error
    products = document.get("products") if isinstance(document, dict) else document
    if not isinstance(products, list):
        raise CatalogImportError(
            [ImportLineError(line=0, field="", message='expected a list of products or {"products": [...]}')]
        )
    items: list[ImportItem] = []
    errors: list[ImportLineError] = []
    seen_skus: dict[str, str] = {}
    for index, entry in enumerate(products):
        where = f"products[{index}]"
        raw = entry
        local_images: list[tuple[int | str, str]] = []
        positions: list[int] = []  # each entry left to the schema: its index in the file's list
        if isinstance(raw, dict) and isinstance(raw.get("images"), list):
            # Local paths are allowed in files imported by the CLI. Paths and URLs keep the list's order
            # (marks are on a product's first image); anything else is left to the schema to refuse.
            remaining: list[Any] = []
            for position, image in enumerate(raw["images"]):
                ref = _image_ref(image)
                if ref is not None:
                    local_images.append((f"{where}.images[{position}]", ref))
                else:
                    remaining.append(image)
                    positions.append(position)
            raw = {**raw, "images": remaining}
        try:
            product = ProductCreate.model_validate(raw)
        except ValidationError as error:
            errors.extend(_errors_from_validation(error, where, image_positions=positions))
            continue
        for variant in product.variants:
            if variant.sku in seen_skus:
                errors.append(
                    ImportLineError(
                        line=where,
                        field="sku",
                        message=f"duplicate sku {variant.sku!r} (first in {seen_skus[variant.sku]})",
                    )
                )
            seen_skus.setdefault(variant.sku, where)
        items.append(ImportItem(line=where, product=product, local_images=local_images))
    if errors:
        raise CatalogImportError(errors)
    return items


def _errors_from_validation(
    error: ValidationError, line: int | str, *, image_positions: list[int] | None = None
) -> list[ImportLineError]:
    """One line error per problem. `image_positions`: the index in the file's `images` list of each
    entry the schema saw (the paths and URLs read before it were taken out), so that an error names
    the entry as the file has it."""
    errors = []
    for item in error.errors():
        loc = list(item["loc"])
        at = loc[1] if image_positions and len(loc) > 1 and loc[0] == "images" else None
        if image_positions and isinstance(at, int) and at < len(image_positions):
            loc[1] = image_positions[at]
        field_name = ".".join(str(part) for part in loc) or "row"
        errors.append(ImportLineError(line=line, field=field_name, message=item["msg"]))
    return errors


ImageLoader = Callable[[int | str, str], tuple[Path, int, int, str]]


def apply_import(
    session: Session,
    brand_id: uuid.UUID,
    items: Iterable[ImportItem],
    *,
    load_image: ImageLoader | None = None,
) -> ImportReport:
    """Write a parsed import in the caller's transaction; raise `CatalogImportError` on any conflict.

    `load_image` turns a local reference into a stored file; without one, only URLs are accepted.
    """
    items = list(items)
    skus = [variant.sku for item in items for variant in item.product.variants]
    taken = taken_skus(session, brand_id, skus)
    errors = [
        ImportLineError(
            line=item.sku_lines.get(variant.sku, item.line),
            field="sku",
            message=f"sku {variant.sku!r} already exists in the catalog",
        )
        for item in items
        for variant in item.product.variants
        if variant.sku in taken
    ]
    stored: dict[int, list[tuple[Path, int, int, str]]] = {}
    url_of: dict[str, str] = {}  # each image URL as written, and as the schema normalises it
    for number, item in enumerate(items):
        if len(item.product.images) + len(item.local_images) > MAX_PRODUCT_IMAGES:
            message = f"a product has at most {MAX_PRODUCT_IMAGES} images"
            errors.append(ImportLineError(line=item.line, field="images", message=message))
        for where, ref in item.local_images:
            if _is_url(ref):
                try:
                    url_of[ref] = str(ImageByUrl.model_validate({"url": ref}).url)
                except ValidationError as error:
                    message = "; ".join(str(detail["msg"]) for detail in error.errors())
                    errors.append(ImportLineError(line=where, field="image", message=message))
                continue
            if load_image is None:
                errors.append(
                    ImportLineError(line=where, field="image", message="local image paths are CLI-only")
                )
                continue
            try:
                stored.setdefault(number, []).append(load_image(where, ref))
            except (OSError, ValueError) as error:
                errors.append(ImportLineError(line=where, field="image", message=str(error)))
    if errors:
        raise CatalogImportError(errors)
    products = variants = images = 0
    for number, item in enumerate(items):
        # The images follow in the file's order, URLs and local files alike: the marks a file gives
        # ("on the product's first image") are on the image it lists first.
        product = create_product(session, brand_id, item.product)
        products += 1
        variants += len(item.product.variants)
        position = len(item.product.images)
        files = iter(stored.get(number, []))
        for _, ref in item.local_images:
            if ref in url_of:
                row = ProductImage(product_id=product.id, brand_id=brand_id, source_url=url_of[ref])
            else:
                path, width, height, digest = next(files)
                row = ProductImage(
                    product_id=product.id,
                    brand_id=brand_id,
                    path=str(path),
                    width=width,
                    height=height,
                    sha256=digest,
                )
            row.position = position
            session.add(row)
            position += 1
        images += position
        session.flush()
        # The marks are on the product's first image, which may be one added just now.
        bind_own_print(session, product)
    return ImportReport(imported_products=products, imported_variants=variants, imported_images=images)
