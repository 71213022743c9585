"""A brand's catalog: products, their variants (SKUs) and images."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint, inspect
from sqlmodel import Field, SQLModel, col

from api.columns import created_at_field, id_field, json_field, money_field, optional_timestamp_field, utcnow
from api.jobs.models import JobState


class Product(SQLModel, table=True):
    id: uuid.UUID = id_field()
    brand_id: uuid.UUID = Field(foreign_key="brand.id", index=True)
    title: str = Field(max_length=300)
    vendor: str = Field(default="", max_length=200)
    description: str = Field(default="")
    # Boxes [x0, y0, x1, y1] (fractions) on one of the product's images around the print only it has
    # (tagger.linking.own_print): auto-approval then needs keypoints matched inside them.
    own_print: list[list[float]] = json_field(default_factory=list)
    # The image the boxes are on (a ProductImage id; no foreign key: it outlives the image on purpose).
    # None until the product has an image; an id no longer among the product's images means that image
    # was removed, and the marks approve nothing until they are set again. Tying the marks to the image,
    # not to "the first", keeps a sync that reorders or replaces images from moving them silently.
    own_print_image_id: uuid.UUID | None = Field(default=None)
    shopify_product_gid: str | None = Field(default=None, max_length=100)
    stripe_product_id: str | None = Field(default=None, max_length=100)
    # The product's ETag: every change to it, its variants or its images moves it on, so a client that
    # PATCHes with an older one in If-Match (two people marking the same packshot) gets a 412, not a
    # silent overwrite (`api.catalog.service.update_product`). A background fetch of an image given by
    # URL does not: it sets no field a client writes (the image's size, `indexed`), and moving the
    # version would refuse a save the brand made while it ran.
    version: int = Field(default=1, ge=1)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()

    def touch(self) -> None:
        """Record a change: a new `updated_at` and the next version. The version is counted up in the
        UPDATE itself (`version + 1` in SQL), so two writers that read the same version (a shop sync and
        an image upload) leave two versions behind, not one; the attribute is read back when next used."""
        self.updated_at = utcnow()
        if inspect(self).persistent:
            setattr(self, "version", col(Product.version) + 1)  # noqa: B010 - an SQL expression, not an int


class Variant(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("brand_id", "sku", name="uq_variant_brand_sku"),)

    id: uuid.UUID = id_field()
    product_id: uuid.UUID = Field(foreign_key="product.id", index=True)
    brand_id: uuid.UUID = Field(foreign_key="brand.id", index=True)
    sku: str = Field(max_length=100)
    title: str = Field(default="Default", max_length=300)
    price: Decimal = money_field()
    currency: str = Field(max_length=3)
    available: bool = Field(default=True)
    shopify_variant_gid: str | None = Field(default=None, max_length=100)
    stripe_price_id: str | None = Field(default=None, max_length=100)
    created_at: datetime = created_at_field()


class ProductImage(SQLModel, table=True):
    """An image we hold (`path`, under the media dir) or reference (`source_url`). Referenced images
    are fetched by the next link job (then both are set) so the linker can index them; `fetch_error`
    says why one could not be. A failure that may pass (a timeout, HTTP 429 or 5xx) is tried again from
    `fetch_retry_at` (the job supervisor queues an image fetch for it, `api.jobs.recovery`), up to
    `MAX_FETCH_ATTEMPTS` tries in all; any other is not (add the image anew to retry)."""

    id: uuid.UUID = id_field()
    product_id: uuid.UUID = Field(foreign_key="product.id", index=True)
    brand_id: uuid.UUID = Field(foreign_key="brand.id", index=True)
    position: int = Field(default=0, ge=0)
    path: str | None = Field(default=None, max_length=500)
    source_url: str | None = Field(default=None, max_length=2000)
    width: int | None = None
    height: int | None = None
    sha256: str | None = Field(default=None, max_length=64)
    fetch_error: str | None = Field(default=None, max_length=1000)
    fetch_attempts: int = Field(default=0, ge=0)
    fetch_retry_at: datetime | None = optional_timestamp_field()
    created_at: datetime = created_at_field()


class SyncJob(SQLModel, table=True):
    """One pull of a brand's catalog from a connected provider (Shopify, Stripe), run by a worker on the
    `io` queue; `report` holds what the sync did once it is done."""

    id: uuid.UUID = id_field()
    brand_id: uuid.UUID = Field(foreign_key="brand.id", index=True)
    provider: str = Field(max_length=20)
    full: bool = Field(default=False)
    state: JobState = Field(default=JobState.QUEUED, sa_type=String(20), index=True)
    progress: float = Field(default=0.0, ge=0.0, le=1.0)
    error: str | None = Field(default=None)
    attempts: int = Field(default=0, ge=0)
    # The finished sync's report: created, updated, unchanged, removed, failed (with reasons), seen.
    report: dict[str, Any] | None = Field(default=None, sa_type=JSON, nullable=True)
    seconds: dict[str, float] = json_field(default_factory=dict)
    created_at: datetime = created_at_field()
    started_at: datetime | None = optional_timestamp_field()
    finished_at: datetime | None = optional_timestamp_field()
    heartbeat_at: datetime | None = optional_timestamp_field()
    # When the job's message was handed to the broker; null: not yet (see api.jobs.recovery).
    published_at: datetime | None = optional_timestamp_field()


class ImageFetchJob(SQLModel, table=True):
    """Downloading a brand's catalog images known only by URL (`io` queue), so the linker can index
    them; when it fetched any, it queues an index-only link job (`vision` queue) for them."""

    id: uuid.UUID = id_field()
    brand_id: uuid.UUID = Field(foreign_key="brand.id", index=True)
    state: JobState = Field(default=JobState.QUEUED, sa_type=String(20), index=True)
    progress: float = Field(default=0.0, ge=0.0, le=1.0)
    error: str | None = Field(default=None)
    attempts: int = Field(default=0, ge=0)
    images_fetched: int = Field(default=0, ge=0)
    images_failed: int = Field(default=0, ge=0)
    seconds: dict[str, float] = json_field(default_factory=dict)
    created_at: datetime = created_at_field()
    started_at: datetime | None = optional_timestamp_field()
    finished_at: datetime | None = optional_timestamp_field()
    heartbeat_at: datetime | None = optional_timestamp_field()
    published_at: datetime | None = optional_timestamp_field()
