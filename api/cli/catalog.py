"""`reelcart catalog import FILE --brand SLUG`: bulk import, all lines or none.
`reelcart catalog sync shopify|stripe --brand SLUG [--full]`: pull a connected provider's catalog."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from sqlmodel import Session

from api.brands.models import Brand, CheckoutProviderName
from api.catalog.images import store_image_bytes
from api.catalog.importing import CatalogImportError, ImportItem, apply_import, parse_catalog
from api.catalog.sync import SyncRun, catalog_source, run_sync
from api.cli._common import console, errors, fail, find_brand, load_settings, open_database
from api.commerce_config import load_for
from api.errors import ApiError
from api.linking.link_jobs import (
    PendingLinkJob,
    placements_decided_by_linker,
    relink_after_sync,
    relink_for_new_products,
)
from api.settings import ApiSettings
from commerce.catalog import CatalogFailure, CatalogItem
from commerce.crypto import TokenCipher
from commerce.exceptions import ProviderError, SettingsError, TokenCryptoError


def import_catalog_file(
    session: Session,
    brand_id: uuid.UUID,
    path: Path,
    media_dir: Path,
    *,
    on_image: Callable[[int, int], None] | None = None,
    skip_skus: Collection[str] = frozenset(),
) -> tuple[int, int, int]:
    """Import a .csv/.json file whose local images are relative to it; raises `CatalogImportError`.
    `on_image(images_stored, images_in_file)` is called after each local image is stored.
    `skip_skus`: variants not to import (a product left with none is not imported either); the
    episode evaluation leaves products out of the catalog with it."""
    items = parse_catalog(path.read_text(encoding="utf-8"), fmt=path.suffix.lower().lstrip("."))
    if skip_skus:
        items = without_skus(items, skip_skus)
    total = sum(len(item.local_images) for item in items)
    stored_so_far = 0

    def load_image(_where: int | str, ref: str) -> tuple[Path, int, int, str]:
        nonlocal stored_so_far
        stored = _store_local_image(path, ref, brand_id, media_dir)
        stored_so_far += 1
        if on_image is not None:
            on_image(stored_so_far, total)
        return stored

    report = apply_import(session, brand_id, items, load_image=load_image)
    return report.imported_products, report.imported_variants, report.imported_images


def without_skus(items: list[ImportItem], skus: Collection[str]) -> list[ImportItem]:
    kept = []
    for item in items:
        variants = [variant for variant in item.product.variants if variant.sku not in skus]
        if variants:
            kept.append(replace(item, product=item.product.model_copy(update={"variants": variants})))
    return kept


def _store_local_image(
    path: Path, ref: str, brand_id: uuid.UUID, media_dir: Path
) -> tuple[Path, int, int, str]:
    image_path = (path.parent / ref).resolve()
    if not image_path.is_file():
        raise ValueError(f"image file not found: {ref}")
    try:
        stored = store_image_bytes(image_path.read_bytes(), media_dir=media_dir, brand_id=brand_id, what=ref)
    except ApiError as problem:
        raise ValueError(problem.detail) from problem
    return stored.path, stored.width, stored.height, stored.sha256


def sync_provider(
    session: Session, brand: Brand, provider: CheckoutProviderName, settings: ApiSettings, *, full: bool
) -> SyncRun:
    """Run one sync with a progress bar (the total is unknown until the last page: it counts up)."""
    try:
        commerce = load_for(settings)
    except SettingsError as error:
        fail(f"catalog sync is not configured: {error}")
    try:
        source = catalog_source(brand, provider, commerce, TokenCipher.from_settings(commerce))
    except ApiError as problem:
        fail(problem.detail)
    except TokenCryptoError as error:
        fail(f"{error}; reconnect the shop")
    columns = (
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"{provider.value} → {brand.slug}", total=None, failed=0)
        failed = 0

        def on_item(item: CatalogItem) -> None:
            nonlocal failed
            failed += isinstance(item, CatalogFailure)
            progress.update(task, advance=1, failed=failed)

        try:
            return run_sync(session, brand, source, settings, full=full, on_item=on_item)
        except ProviderError as error:
            fail(f"{error} (nothing was changed)")


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
            # Products that arrive with images may be what placements the linker decided show, as the
            # API's import says; the job commits with the import.
            pending = relink_for_new_products(session, brand_row.id) if images else None
            session.commit()
            relink = _queued_relink(session, pending, brand_row.id)
        console.print(
            f"imported {products} products, {variants} variants, {images} images into {brand_row.slug}"
        )
        _say_relink(relink, brand_row.slug)

    @group.command("sync")
    def sync(
        provider: Annotated[CheckoutProviderName, typer.Argument(help="shopify or stripe")],
        brand: Annotated[str, typer.Option(help="Brand slug or id")],
        full: Annotated[
            bool, typer.Option("--full", help="Read everything and remove what the provider no longer has")
        ] = False,
    ) -> None:
        """Upsert the brand's products from a connected provider (incremental since the last Shopify sync)."""
        settings = load_settings()
        engine = open_database(settings)
        with Session(engine, expire_on_commit=False) as session:
            brand_row = find_brand(session, brand)
            run = sync_provider(session, brand_row, provider, settings, full=full)
            pending = relink_after_sync(session, brand_row.id, run.relink_products, run.newly_linkable)
            session.commit()
            relink = _queued_relink(session, pending, brand_row.id)
            report = run.report
        for failure in report.failed[:50]:
            errors.print(f"failed {failure.provider_id}: {failure.reason}", highlight=False, soft_wrap=True)
        console.print(
            f"{provider.value} sync for {brand_row.slug} ({'full' if report.full else 'incremental'}): "
            f"{len(report.created)} created, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged, {len(report.removed)} removed, {len(report.failed)} failed",
            highlight=False,
            soft_wrap=True,
        )
        _say_relink(relink, brand_row.slug)

    app.add_typer(group, name="catalog")


@dataclass(frozen=True)
class QueuedRelink:
    job_id: uuid.UUID
    # The brand's placements the linker decided, which a brand-wide job links again; None for a product's
    # job (it links those that name the product).
    placements: int | None


def _queued_relink(
    session: Session, pending: PendingLinkJob | None, brand_id: uuid.UUID
) -> QueuedRelink | None:
    if pending is None:
        return None
    job, _new = pending
    if job.product_id is not None:
        return QueuedRelink(job.id, None)
    return QueuedRelink(job.id, placements_decided_by_linker(session, brand_id))


def _say_relink(relink: QueuedRelink | None, slug: str) -> None:
    """The CLI stores the re-link job with the change, as the API does, but hands it to no worker: the
    job supervisor of the running service does (one box: `reelcart serve`; with a broker, the API's),
    within REELCART_JOB_SUPERVISE_S; a service started later takes it at start-up."""
    if relink is None:
        return
    count = relink.placements
    scope = (
        "the placements the linker decided that name the changed product"
        if count is None
        else f"the {count} placement{'s' if count != 1 else ''} the linker decided"
    )
    console.print(
        f"queued link job {relink.job_id} to link {scope} again: the running service starts it "
        f"(GET /v1/link-jobs/{relink.job_id}); `reelcart link --brand {slug}` links them here and now "
        "(the queued job then changes nothing more)",
        highlight=False,
        soft_wrap=True,
    )
