"""`reelcart catalog import FILE --brand SLUG`: bulk import, all lines or none."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from api.commands._common import console, errors, fail, find_brand, load_settings, open_database
from api.problems import Problem
from api.services.catalog_import import CatalogImportError, apply_import, parse_catalog
from api.services.images import store_image_bytes


def import_catalog_file(
    session: Session, brand_id: uuid.UUID, path: Path, media_dir: Path
) -> tuple[int, int, int]:
    """Import a .csv/.json file whose local images are relative to it; raises `CatalogImportError`."""
    items = parse_catalog(path.read_text(encoding="utf-8"), fmt=path.suffix.lower().lstrip("."))

    def load_image(_where: int | str, ref: str) -> tuple[Path, int, int, str]:
        image_path = (path.parent / ref).resolve()
        if not image_path.is_file():
            raise ValueError(f"image file not found: {ref}")
        try:
            stored = store_image_bytes(
                image_path.read_bytes(), media_dir=media_dir, brand_id=brand_id, what=ref
            )
        except Problem as problem:
            raise ValueError(problem.detail) from problem
        return stored.path, stored.width, stored.height, stored.sha256

    report = apply_import(session, brand_id, items, load_image=load_image)
    return report.imported_products, report.imported_variants, report.imported_images


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="A brand's product catalog.", no_args_is_help=True)

    @group.command("import")
    def import_(
        file: Annotated[Path, typer.Argument(help="CSV (sku,title,price,currency,…) or JSON file")],
        brand: Annotated[str, typer.Option(help="Brand slug or id")],
    ) -> None:
        """Import products; every line is checked first and nothing is written if any line is bad."""
        if not file.is_file():
            fail(f"no such file: {file}")
        if file.suffix.lower() not in (".csv", ".json"):
            fail(f"{file.name}: expected a .csv or .json file")
        settings = load_settings()
        engine = open_database(settings)
        with Session(engine, expire_on_commit=False) as session:
            brand_row = find_brand(session, brand)
            try:
                products, variants, images = import_catalog_file(
                    session, brand_row.id, file, settings.media_dir
                )
            except CatalogImportError as error:
                for item in error.errors[:50]:
                    errors.print(f"{file.name}:{item.line}: {item.field}: {item.message}", highlight=False)
                if len(error.errors) > 50:
                    errors.print(f"… and {len(error.errors) - 50} more", highlight=False)
                fail(f"{len(error.errors)} error(s) in {file.name}; nothing was imported")
            except UnicodeDecodeError:
                fail(f"{file.name} is not UTF-8 text")
            session.commit()
        console.print(
            f"imported {products} products, {variants} variants, {images} images into {brand_row.slug}"
        )

    app.add_typer(group, name="catalog")
