"""Brands and the API keys that act for them (or for the operator)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from api.columns import EnumText, UTCDateTime, created_at_field, id_field, optional_timestamp_field


# The commerce providers a brand sells through (stored as these values). No docstring: it would
# become the OpenAPI schema's description, and the published contract stays as it was.
class CheckoutProviderName(StrEnum):
    STRIPE = "stripe"
    SHOPIFY = "shopify"


# The brand `reelcart demo` sets up; the landing page links its player (outside production).
DEMO_BRAND_SLUG = "demo-grocer"


class Brand(SQLModel, table=True):
    id: uuid.UUID = id_field()
    name: str = Field(max_length=200)
    slug: str = Field(max_length=80, unique=True, index=True)
    # Links whose calibrated confidence reaches this are approved without a human (0.8: the level at
    # which cross-validated precision on grocery-dev reached 98%, see BENCHMARKS.md).
    auto_approve_threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    # Below this a link is "unknown product" (still reviewable).
    link_floor: float = Field(default=0.3, ge=0.0, le=1.0)
    # Auto-approve only links whose print was seen (OCR read the SKU's text, or strong keypoint
    # matches); colour and shape alone can be confidently wrong (see tagger.linking.LinkThresholds).
    require_print_evidence: bool = Field(default=True)
    # Links whose own print (a product's `own_print` marks) the crops confirmed are approved from this
    # confidence when it is below the auto-approve threshold (tagger.linking.LinkThresholds).
    own_print_auto_approve: float = Field(default=0.5, ge=0.0, le=1.0)
    default_checkout_provider: CheckoutProviderName = Field(
        default=CheckoutProviderName.STRIPE, sa_type=EnumText(CheckoutProviderName, 20)
    )
    # Stripe Connect: calls for this brand carry its connected account id.
    stripe_account_id: str | None = Field(default=None, max_length=100)
    # Shopify app install: shop domain and tokens, encrypted at rest with the settings key.
    shopify_shop_domain: str | None = Field(default=None, max_length=255)
    shopify_access_token_encrypted: str | None = Field(default=None)
    shopify_storefront_token_encrypted: str | None = Field(default=None)
    catalog_synced_at: datetime | None = optional_timestamp_field()
    created_at: datetime = created_at_field()


class ApiKeyScope(StrEnum):
    BRAND = "brand"
    OPERATOR = "operator"


class ApiKey(SQLModel, table=True):
    """A bearer key. Only its SHA-256 is stored; the key itself is shown once, at creation."""

    id: uuid.UUID = id_field()
    brand_id: uuid.UUID | None = Field(default=None, foreign_key="brand.id", index=True)
    scope: ApiKeyScope = Field(default=ApiKeyScope.BRAND, sa_type=String(20))
    name: str = Field(default="", max_length=200)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = created_at_field()
    revoked_at: datetime | None = optional_timestamp_field()
    # None: the key works until revoked; else it is refused from this moment on (401 expired-api-key).
    expires_at: datetime | None = optional_timestamp_field()


class OAuthStateUse(SQLModel, table=True):
    """A provider connect `state` that came back once: a second callback with it is refused. Rows are
    kept until the state would have expired anyway (then a replay fails on the expiry instead)."""

    nonce: str = Field(primary_key=True, max_length=64)
    provider: CheckoutProviderName = Field(sa_type=EnumText(CheckoutProviderName, 20))
    brand_id: uuid.UUID = Field(foreign_key="brand.id", index=True)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    used_at: datetime = created_at_field()
