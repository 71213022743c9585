"""A brand's catalog: products, their variants (SKUs) and images."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from api.columns import created_at_field, id_field, money_field, utcnow


class Product(SQLModel, table=True):
    id: uuid.UUID = id_field()
    brand_id: uuid.UUID = Field(foreign_key="brand.id", index=True)
    title: str = Field(max_length=300)
    vendor: str = Field(default="", max_length=200)
    description: str = Field(default="")
    shopify_product_gid: str | None = Field(default=None, max_length=100)
    stripe_product_id: str | None = Field(default=None, max_length=100)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()

    def touch(self) -> None:
        self.updated_at = utcnow()


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
    says why one could not be, and such an image is not tried again (add it anew to retry)."""

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
    created_at: datetime = created_at_field()
