"""Bringing catalog images known only by URL into the media dir, so the linker can index them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine
from sqlmodel import col, select

from api.catalog.image_fetch import ImageFetcher, ImageFetchError
from api.catalog.images import store_image_bytes
from api.catalog.models import ProductImage
from api.db import session_scope
from api.errors import ApiError
from api.settings import ApiSettings


@dataclass(frozen=True)
class FetchReport:
    fetched: int
    failed: int


def image_fetcher(settings: ApiSettings) -> ImageFetcher:
    return ImageFetcher(
        timeout_s=settings.image_fetch_timeout_s,
        max_bytes=settings.max_image_bytes,
        allow_private_hosts=settings.image_fetch_private_hosts,
    )


def pending_image_filter() -> tuple[ColumnElement[bool], ...]:
    """URL images not fetched yet and not failed before (a failed one waits for the brand to re-add it)."""
    return (
        col(ProductImage.path).is_(None),
        col(ProductImage.source_url).is_not(None),
        col(ProductImage.fetch_error).is_(None),
    )


def fetch_pending_images(
    engine: Engine,
    settings: ApiSettings,
    brand_id: uuid.UUID,
    fetcher: ImageFetcher,
    on_progress: Callable[[int, int], None] | None = None,
) -> FetchReport:
    """Download, check (decodes, size limits) and store each pending image of the brand; record the
    reason on images that fail. One short transaction per image: nothing is held during a download."""
    with session_scope(engine) as session:
        pending = session.exec(
            select(ProductImage.id, ProductImage.source_url).where(
                ProductImage.brand_id == brand_id, *pending_image_filter()
            )
        ).all()
    fetched = failed = 0
    for position, (image_id, url) in enumerate(pending):
        assert url is not None
        error: str | None = None
        try:
            stored = store_image_bytes(
                fetcher.fetch(url), media_dir=settings.media_dir, brand_id=brand_id, what=f"image {url}"
            )
        except ImageFetchError as fetch_error:
            error = str(fetch_error)
        except ApiError as invalid:
            error = invalid.detail
        with session_scope(engine) as session:
            image = session.get(ProductImage, image_id)
            # Skipped when the image was deleted or its URL replaced meanwhile.
            if image is not None and image.source_url == url and image.path is None:
                if error is None:
                    image.path, image.width, image.height = str(stored.path), stored.width, stored.height
                    image.sha256 = stored.sha256
                    fetched += 1
                else:
                    image.fetch_error = error[:1000]
                    failed += 1
                session.add(image)
        if on_progress is not None:
            on_progress(position + 1, len(pending))
    return FetchReport(fetched, failed)
