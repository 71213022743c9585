"""Catalog routes: products, variants, images and bulk import, always scoped to the caller's brand."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, status
from fastapi.responses import FileResponse, Response
from pydantic.json_schema import SkipJsonSchema
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.catalog import service as catalog
from api.catalog.images import store_image_bytes
from api.catalog.importing import CatalogImportError, apply_import, parse_catalog
from api.catalog.models import Product, ProductImage
from api.catalog.schemas import (
    ImageByUrl,
    ImagePublic,
    ImportReport,
    OwnPrintCheckPublic,
    OwnPrintCheckRequest,
    OwnPrintSuggestionPublic,
    OwnPrintSuggestRequest,
    ProductCreate,
    ProductPage,
    ProductPublic,
    ProductUpdate,
    VariantCreate,
    VariantPublic,
    VariantUpdate,
)
from api.deps import BrandIdDep, PrincipalDep, SessionDep, SettingsDep
from api.errors import NotFound
from api.linking.exceptions import MarksNotCheckable
from api.linking.link_jobs import (
    queue_index_refresh,
    relink_for_new_products,
    relink_for_product_change,
    relink_or_refresh_after_removal,
    relink_placements_naming,
)
from api.linking.marks_check import check_product_marks, suggest_product_marks
from api.linking.monitor import monitor_link_job
from api.linking.service import linkable, linker_reads
from api.ownership import get_owned
from api.problems import Problem
from api.settings import ApiSettings
from api.timeline.service import rebuild_timelines, rebuild_timelines_for_product
from api.types import PageOffset, Text
from api.versioning import etag

router = APIRouter(prefix="/v1", tags=["catalog"])


# Optional, and a string when sent: documented without `null` (a header cannot be null, and a fuzzer
# that "sends null" sends no header, which this route rightly accepts).
IfMatch = Annotated[
    str | SkipJsonSchema[None],
    Header(
        alias="If-Match",
        description="The product's ETag as you loaded it: the PATCH is refused (412) if it changed since. "
        "Without it the last write wins.",
    ),
]


_NEW_PRODUCTS_RELINK = (
    "A product that arrives with images may be what placements the linker decided show (awaiting review "
    "as an unknown product, or linked to a sibling, even approved, while the catalog lacked it): when the "
    "brand has such placements, a link job over all of them is queued, named by the answer's `Link` header "
    '(`rel="monitor"`). The linker\'s approvals its new links no longer support are withdrawn.'
)


@router.post(
    "/products",
    status_code=status.HTTP_201_CREATED,
    response_model=ProductPublic,
    description=_NEW_PRODUCTS_RELINK,
)
def create_product(
    body: ProductCreate,
    request: Request,
    brand_id: BrandIdDep,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> ProductPublic:
    product = catalog.create_product(session, brand_id, body)
    relink = relink_for_new_products(session, brand_id) if body.images else None
    session.commit()
    response.headers["ETag"] = catalog.product_etag(product)
    monitor_link_job(request, response, relink)
    if body.images:
        queue_index_refresh(session, request.app.state.job_queue, brand_id)
    return catalog.product_public(session, product, settings.public_base_url)


@router.get("/products", response_model=ProductPage)
def list_products(
    brand_id: BrandIdDep,
    session: SessionDep,
    settings: SettingsDep,
    q: Annotated[Text | None, Query(max_length=200, description="Search title, vendor and SKU")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: PageOffset = 0,
) -> ProductPage:
    return catalog.list_products(
        session, brand_id, query=q, limit=limit, offset=offset, public_base_url=settings.public_base_url
    )


@router.get("/products/{product_id}", response_model=ProductPublic)
def get_product(
    product_id: uuid.UUID,
    brand_id: BrandIdDep,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> ProductPublic:
    product = catalog.get_product(session, brand_id, product_id)
    response.headers["ETag"] = catalog.product_etag(product)
    return catalog.product_public(session, product, settings.public_base_url)


def _locked(session: Session, product: Product) -> Product:
    """The product read again under a row lock held to the commit: what the linker read of it before
    this change is then what is stored, not what a concurrent change has just replaced."""
    return catalog.lock_product(session, product)


@router.patch(
    "/products/{product_id}",
    response_model=ProductPublic,
    summary="Update a product; a change to what the linker reads re-links the placements it decides",
    description="A change to `own_print`, `own_print_image_id`, `title`, `vendor` or `description` queues "
    "a link job over the placements the linker decided (awaiting review, or approved by the linker) that "
    "have this product among their candidates (the marks and the words decide which of its links are "
    "approved, and which name a sibling: a machine approval the new link no longer supports is "
    "withdrawn; a person's decision is kept); the "
    'answer\'s `Link` header names it (`</v1/link-jobs/{id}>; rel="monitor"`).',
)
def update_product(
    product_id: uuid.UUID,
    body: ProductUpdate,
    request: Request,
    brand_id: BrandIdDep,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    if_match: IfMatch = None,
) -> ProductPublic:
    product = catalog.get_product(session, brand_id, product_id)
    before = linker_reads(session, _locked(session, product))
    product = catalog.update_product(session, product, body, if_match=if_match)
    rebuild_timelines_for_product(session, product.id, settings)
    public = catalog.product_public(session, product, settings.public_base_url)
    # Queued in the same transaction as the change: both are stored or neither. Linked in the background
    # (never in this request), so the hotspots the change approves go live without re-tagging anything.
    relink = relink_for_product_change(session, product, before)
    session.commit()
    response.headers["ETag"] = etag(public.version)
    monitor_link_job(request, response, relink)
    return public


@router.delete(
    "/products/{product_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a product; its hotspots come down and the placements that name it are linked again",
    description="Placements that had chosen the product go back to review, off the public timeline, each "
    "with a `product-deleted` entry in its history. The placements the linker decided (awaiting review, or "
    "approved by the linker) that name the product among their candidates are linked again against the "
    "catalog without it, by a link job the answer's `Link` header names "
    '(`</v1/link-jobs/{id}>; rel="monitor"`); when none does, the job named there (one already queued '
    "for the brand, or an index-only one) refreshes the catalog index without it. A product sold through "
    "ReelCart (a checkout was started for one of its variants) is not deleted: 409 `already-sold` says how "
    "to stop selling it instead.",
)
def delete_product(
    product_id: uuid.UUID,
    request: Request,
    brand_id: BrandIdDep,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    product = catalog.get_product(session, brand_id, product_id)
    shown_in = catalog.delete_product(session, product, principal.actor)
    rebuild_timelines(session, shown_in, settings)
    relink = relink_or_refresh_after_removal(session, brand_id, product_id)
    session.commit()
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    monitor_link_job(request, response, relink)
    return response


@router.post(
    "/products/{product_id}/own-print/check",
    response_model=OwnPrintCheckPublic,
    summary="Check own-print marks against the catalog: enough print to confirm, none another product prints",
)
def check_own_print(
    product_id: uuid.UUID,
    body: OwnPrintCheckRequest,
    request: Request,
    brand_id: BrandIdDep,
    session: SessionDep,
    settings: SettingsDep,
) -> OwnPrintCheckPublic:
    # Checks what the editor is about to save (or, with `{}`, what is stored); writes nothing but, when
    # the index does not hold the image yet, the index-only link job that adds it.
    product = catalog.get_product(session, brand_id, product_id)
    with _index_refresh_when_not_ready(request, session, brand_id):
        return check_product_marks(session, settings, product, body.own_print, body.own_print_image_id)


@router.post(
    "/products/{product_id}/own-print/suggest",
    response_model=OwnPrintSuggestionPublic,
    summary="Suggest own-print marks from the brand's footage: where its approved placements match and "
    "no other product does",
)
def suggest_own_print(
    product_id: uuid.UUID,
    body: OwnPrintSuggestRequest,
    request: Request,
    brand_id: BrandIdDep,
    session: SessionDep,
    settings: SettingsDep,
) -> OwnPrintSuggestionPublic:
    # Saves nothing: the editor shows the boxes, and the brand saves them (PATCH) or not.
    product = catalog.get_product(session, brand_id, product_id)
    with _index_refresh_when_not_ready(request, session, brand_id):
        return suggest_product_marks(session, settings, product, body.own_print_image_id)


@contextmanager
def _index_refresh_when_not_ready(
    request: Request, session: SessionDep, brand_id: uuid.UUID
) -> Iterator[None]:
    """Marks the index cannot answer for yet (`MarksNotCheckable`) queue the index-only link job that
    adds their image, then refuse as they were refused (409)."""
    try:
        yield
    except MarksNotCheckable:
        queue_index_refresh(session, request.app.state.job_queue, brand_id)
        raise


_VARIANT_RELINK = (
    "A variant's name is a word its pack prints: a change to the names queues a link job over the product's "
    'placements the linker decided, named by the answer\'s `Link` header (`rel="monitor"`).'
)


@router.post(
    "/products/{product_id}/variants",
    status_code=status.HTTP_201_CREATED,
    response_model=VariantPublic,
    description=_VARIANT_RELINK,
)
def add_variant(
    product_id: uuid.UUID,
    body: VariantCreate,
    request: Request,
    response: Response,
    brand_id: BrandIdDep,
    session: SessionDep,
    settings: SettingsDep,
) -> VariantPublic:
    product = catalog.get_product(session, brand_id, product_id)
    before = linker_reads(session, _locked(session, product))
    variant = catalog.add_variant(session, product, body)
    rebuild_timelines_for_product(session, variant.product_id, settings)
    relink = relink_for_product_change(session, product, before)
    session.commit()
    monitor_link_job(request, response, relink)
    return catalog.variant_public(variant)


@router.patch("/variants/{variant_id}", response_model=VariantPublic, description=_VARIANT_RELINK)
def update_variant(
    variant_id: uuid.UUID,
    body: VariantUpdate,
    request: Request,
    response: Response,
    brand_id: BrandIdDep,
    session: SessionDep,
    settings: SettingsDep,
) -> VariantPublic:
    variant = catalog.get_variant(session, brand_id, variant_id)
    product = catalog.get_product(session, brand_id, variant.product_id)
    before = linker_reads(session, _locked(session, product))
    variant = catalog.update_variant(session, variant, body)
    rebuild_timelines_for_product(session, variant.product_id, settings)
    relink = relink_for_product_change(session, product, before)
    session.commit()
    monitor_link_job(request, response, relink)
    return catalog.variant_public(variant)


@router.delete("/variants/{variant_id}", status_code=status.HTTP_204_NO_CONTENT, description=_VARIANT_RELINK)
def delete_variant(
    variant_id: uuid.UUID, request: Request, brand_id: BrandIdDep, session: SessionDep, settings: SettingsDep
) -> Response:
    variant = catalog.get_variant(session, brand_id, variant_id)
    product = catalog.get_product(session, brand_id, variant.product_id)
    before = linker_reads(session, _locked(session, product))
    catalog.delete_variant(session, variant)
    catalog.product_changed(session, variant.product_id)
    session.flush()
    rebuild_timelines_for_product(session, variant.product_id, settings)
    relink = relink_for_product_change(session, product, before)
    session.commit()
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    monitor_link_job(request, response, relink)
    return response


@router.post(
    "/products/{product_id}/images",
    status_code=status.HTTP_201_CREATED,
    response_model=ImagePublic,
    summary="Add an image by URL (JSON) or by upload (multipart field `file`)",
    description="Queues the index refresh that fetches and indexes it; when placements the linker decided "
    "name the product, also a link job that links them again with it, named by the answer's `Link` "
    'header (`rel="monitor"`).',
)
async def add_image(
    product_id: uuid.UUID,
    request: Request,
    response: Response,
    brand_id: BrandIdDep,
    session: SessionDep,
    settings: SettingsDep,
) -> ImagePublic:
    # Only the body is read on the event loop; the database, and decoding an upload of up to
    # REELCART_MAX_IMAGE_BYTES, run in worker threads, never stalling the process's other requests.
    def find() -> tuple[Product, bool, int]:
        product = catalog.get_product(session, brand_id, product_id)
        # Its first usable image makes the product linkable: it may be what any placement the linker
        # decided shows (an image whose URL failed never made it linkable).
        return product, linkable(session, product.id), catalog.next_image_position(session, product.id)

    product, was_linkable, position = await run_in_threadpool(find)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        data = await upload.read(settings.max_image_bytes + 1) if isinstance(upload, UploadFile) else b""

        def new_image() -> ProductImage:
            return _uploaded_image(upload, data, product, position, settings)

    elif content_type.startswith("application/json"):
        body = await request.body()

        def new_image() -> ProductImage:
            url = str(ImageByUrl.model_validate_json(body).url)
            return ProductImage(product_id=product.id, brand_id=brand_id, position=position, source_url=url)

    else:
        raise Problem(415, 'send JSON {"url": …} or multipart/form-data with a `file` field')

    def add() -> ImagePublic:
        image = new_image()
        session.add(image)
        product.touch()
        session.add(product)
        session.flush()
        catalog.bind_own_print(session, product)
        rebuild_timelines_for_product(session, product.id, settings)
        relink = (
            relink_placements_naming(session, product.brand_id, product.id)
            if was_linkable
            else relink_for_new_products(session, brand_id)
        )
        session.commit()
        monitor_link_job(request, response, relink)
        queue_index_refresh(session, request.app.state.job_queue, brand_id)
        return catalog.image_public(image, settings.public_base_url)

    return await run_in_threadpool(add)


def _uploaded_image(
    upload: object, data: bytes, product: Product, position: int, settings: ApiSettings
) -> ProductImage:
    """The multipart `file` stored (decoded and checked: seconds for a large image, so never on the
    event loop)."""
    if not isinstance(upload, UploadFile):
        raise Problem(
            422,
            "multipart body needs a `file` field",
            slug="validation-error",
            errors=[{"field": "file", "message": "field required"}],
        )
    if len(data) > settings.max_image_bytes:
        raise Problem(
            413, f"image exceeds the {settings.max_image_bytes} byte limit", slug="payload-too-large"
        )
    stored = store_image_bytes(
        data, media_dir=settings.media_dir, brand_id=product.brand_id, what=upload.filename or "image"
    )
    return ProductImage(
        product_id=product.id,
        brand_id=product.brand_id,
        position=position,
        path=str(stored.path),
        width=stored.width,
        height=stored.height,
        sha256=stored.sha256,
    )


@router.delete(
    "/images/{image_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    description="The product's placements the linker decided are linked again without the image (a link "
    'job named by the answer\'s `Link` header, `rel="monitor"`); when it has none, the job named there (one '
    "already queued for the brand, or an index-only one) refreshes the brand's catalog index without it.",
)
def delete_image(
    image_id: uuid.UUID, request: Request, brand_id: BrandIdDep, session: SessionDep, settings: SettingsDep
) -> Response:
    # The first image is the timeline's packshot: deleting it shows the next one (or none).
    image = get_owned(session, ProductImage, brand_id, image_id, "image")
    product = catalog.get_product(session, brand_id, image.product_id)
    session.delete(image)
    catalog.product_changed(session, image.product_id)
    session.flush()
    rebuild_timelines_for_product(session, image.product_id, settings)
    relink = relink_or_refresh_after_removal(session, product.brand_id, product.id)
    session.commit()
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    monitor_link_job(request, response, relink)
    return response


@router.get(
    "/images/{image_id}", tags=["public"], summary="A held product image (public: shown in the overlay)"
)
def get_image(image_id: uuid.UUID, session: SessionDep) -> FileResponse:
    image = session.get(ProductImage, image_id)
    if image is None or not image.path or not Path(image.path).is_file():
        raise NotFound("image")
    return FileResponse(image.path, headers={"Cache-Control": "public, max-age=86400, immutable"})


@router.post(
    "/catalog/import",
    response_model=ImportReport,
    summary="Bulk import products from CSV (text/csv) or JSON; all lines or none",
    responses={
        422: {"description": "The file has errors; `errors` lists them by line; nothing was imported"}
    },
    description=_NEW_PRODUCTS_RELINK,
)
async def import_catalog(
    request: Request, response: Response, brand_id: BrandIdDep, session: SessionDep
) -> ImportReport:
    content_type = request.headers.get("content-type", "")
    fmt = "csv" if "csv" in content_type else "json" if "json" in content_type else None
    if fmt is None:
        raise Problem(415, "send text/csv or application/json")
    body = await request.body()

    def import_file() -> ImportReport:
        # Parsing up to REELCART_MAX_IMPORT_BYTES and writing every product take seconds: a worker
        # thread, so the process's other requests (timelines, webhooks, health) are served meanwhile.
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise Problem(422, "catalog file must be UTF-8", slug="validation-error") from error
        try:
            report = apply_import(session, brand_id, parse_catalog(text, fmt=fmt))
        except CatalogImportError as error:
            raise Problem(
                422,
                str(error),
                slug="catalog-import-errors",
                errors=[
                    {"line": item.line, "field": item.field, "message": item.message} for item in error.errors
                ],
            ) from error
        relink = relink_for_new_products(session, brand_id) if report.imported_images else None
        session.commit()
        monitor_link_job(request, response, relink)
        if report.imported_images:
            queue_index_refresh(session, request.app.state.job_queue, brand_id)
        return report

    return await run_in_threadpool(import_file)
