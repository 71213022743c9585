"""Bringing catalog images known only by URL into the media dir, so the linker can index them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Engine, or_
from sqlmodel import col, select

from api.catalog.image_fetch import ImageFetcher, ImageFetchError
from api.catalog.images import store_image_bytes
from api.catalog.models import ProductImage
from api.db import session_scope
from api.errors import ApiError
from api.settings import ApiSettings

# A failure that may pass is tried again after 1, 4, 16, then 64 minutes (api.jobs.recovery queues the fetch);
# the fifth failure is the last (the brand then sees it as any other and may add the image anew).
MAX_FETCH_ATTEMPTS = 5
FIRST_RETRY_AFTER = timedelta(minutes=1)
RETRY_GROWTH = 4


@dataclass(frozen=True)
class FetchReport:
    fetched: int
    failed: int  # every image that failed this time, the ones to be tried again included
    retrying: int = 0  # of those, the ones a later job tries again


def retry_after(attempts: int) -> timedelta:
    """How long an image that has failed `attempts` times, each time in a way that may pass, waits."""
    growth: int = RETRY_GROWTH ** (attempts - 1)
    return FIRST_RETRY_AFTER * growth


def image_fetcher(settings: ApiSettings) -> ImageFetcher:
    return ImageFetcher(
        timeout_s=settings.image_fetch_timeout_s,
        max_bytes=settings.max_image_bytes,
        allow_private_hosts=settings.image_fetch_private_hosts,
    )


def pending_image_filter(
    now: datetime | None = None, *, retries: bool = True
) -> tuple[ColumnElement[bool], ...]:
    """URL images a fetch would try now: not fetched yet, and either never failed or (with `retries`)
    failed in a way that may pass and due again (a failure for good waits for the brand to re-add the
    image)."""
    never_failed = col(ProductImage.fetch_error).is_(None)
    due = col(ProductImage.fetch_retry_at) <= (now or datetime.now(UTC))
    return (
        col(ProductImage.path).is_(None),
        col(ProductImage.source_url).is_not(None),
        or_(never_failed, due) if retries else never_failed,
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
            select(ProductImage.id, ProductImage.source_url, ProductImage.fetch_attempts).where(
                ProductImage.brand_id == brand_id, *pending_image_filter()
            )
        ).all()
    fetched = failed = retrying = 0
    for position, (image_id, url, attempts) in enumerate(pending):
        assert url is not None
        error: str | None = None
        transient = False
        try:
            stored = store_image_bytes(
                fetcher.fetch(url), media_dir=settings.media_dir, brand_id=brand_id, what=f"image {url}"
            )
        except ImageFetchError as fetch_error:
            error, transient = str(fetch_error), fetch_error.transient
        except ApiError as invalid:
            error = invalid.detail
        with session_scope(engine) as session:
            image = session.get(ProductImage, image_id)
            # Skipped when the image was deleted or its URL replaced meanwhile, or when another job
            # (an image fetch beside a link job) tried it meanwhile: one try counts once.
            if (
                image is not None
                and image.source_url == url
                and image.path is None
                and image.fetch_attempts == attempts
            ):
                if error is None:
                    image.path, image.width, image.height = str(stored.path), stored.width, stored.height
                    image.sha256 = stored.sha256
                    image.fetch_error, image.fetch_retry_at = None, None
                    fetched += 1
                else:
                    failed += 1
                    retrying += _record_failure(image, error, transient=transient)
                session.add(image)
        if on_progress is not None:
            on_progress(position + 1, len(pending))
    return FetchReport(fetched, failed, retrying)


def _record_failure(image: ProductImage, error: str, *, transient: bool) -> bool:
    """Store why the image failed and whether (and from when) it is tried again; True if it is."""
    image.fetch_attempts += 1
    if not transient:
        image.fetch_error, image.fetch_retry_at = error[:1000], None
        return False
    if image.fetch_attempts >= MAX_FETCH_ATTEMPTS:
        note = f" (failed {image.fetch_attempts} times; not tried again: add the image anew to retry)"
        image.fetch_error, image.fetch_retry_at = error[: 1000 - len(note)] + note, None
        return False
    image.fetch_retry_at = datetime.now(UTC) + retry_after(image.fetch_attempts)
    note = (
        f" (try {image.fetch_attempts} of {MAX_FETCH_ATTEMPTS}; the next job that fetches images from "
        f"{image.fetch_retry_at:%Y-%m-%d %H:%M} UTC tries again)"
    )
    image.fetch_error = error[: 1000 - len(note)] + note
    return True
