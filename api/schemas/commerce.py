"""Bodies for selling: brand provider connections, checkout from a hotspot, webhook receipts, sync reports."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from commerce.catalog import SyncReport
from commerce.checkout import MAX_LINE_QUANTITY


class CheckoutProviderName(StrEnum):
    STRIPE = "stripe"
    SHOPIFY = "shopify"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# Tokens and ids travel in URLs, metadata and cart attributes: keep them to a safe alphabet.
ClickId = Annotated[str, StringConstraints(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")]
StripeAccountId = Annotated[str, StringConstraints(pattern=r"^acct_[A-Za-z0-9]{1,64}$")]
ShopDomain = Annotated[
    str,
    # Lower-cased before the pattern: webhooks name the shop in lower case and are matched exactly.
    BeforeValidator(lambda value: value.strip().lower() if isinstance(value, str) else value),
    StringConstraints(max_length=255, pattern=r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$"),
]
AccessToken = Annotated[str, StringConstraints(min_length=8, max_length=500, pattern=r"^\S+$")]


# Brand ------------------------------------------------------------------------------------------


class StripeConnect(_Strict):
    account_id: StripeAccountId = Field(description="The brand's Stripe Connect account, acct_…")


class ShopifyConnect(_Strict):
    shop_domain: ShopDomain = Field(examples=["drama-merch.myshopify.com"])
    access_token: AccessToken = Field(description="Admin API access token; stored encrypted, never returned")
    storefront_token: AccessToken | None = Field(
        default=None,
        description="Storefront API token for cartCreate; without one checkout uses a cart permalink",
    )


class BrandUpdate(_Strict):
    default_checkout_provider: CheckoutProviderName | None = None
    auto_approve_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Links at or above this confidence are approved"
    )
    link_floor: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Below this confidence a link is an unknown product; at most auto_approve_threshold",
    )
    require_print_evidence: bool | None = Field(
        default=None,
        description="Auto-approve only when the product's print was seen (OCR text or keypoint matches)",
    )


class StripeConnection(BaseModel):
    connected: bool
    account_id: str | None


class ShopifyConnection(BaseModel):
    connected: bool
    shop_domain: str | None
    storefront_token: bool = Field(
        description="Whether a Storefront token is stored (its value never is returned)"
    )


class BrandProviders(BaseModel):
    stripe: StripeConnection
    shopify: ShopifyConnection


class BrandMe(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    auto_approve_threshold: float
    link_floor: float
    require_print_evidence: bool
    default_checkout_provider: CheckoutProviderName
    catalog_synced_at: datetime | None
    providers: BrandProviders


# Checkout ---------------------------------------------------------------------------------------


class CheckoutCreate(_Strict):
    placement_id: uuid.UUID
    variant_id: uuid.UUID
    quantity: int = Field(default=1, ge=1, le=MAX_LINE_QUANTITY)
    provider: CheckoutProviderName | None = Field(default=None, description="Defaults to the brand's setting")
    click_id: ClickId | None = Field(
        default=None, description="One id per tap; sending it again returns the same checkout"
    )


class CheckoutCreated(BaseModel):
    """The overlay SDK is built against exactly these keys (web_overlay/types.d.ts `CheckoutSession`)."""

    checkout_session_id: uuid.UUID
    provider: CheckoutProviderName
    client_secret: str | None = Field(description="Stripe embedded checkout; mount it with Stripe.js")
    publishable_key: str | None
    stripe_account: str | None = Field(
        default=None, description="Connected account to pass to Stripe.js (`Stripe(key, {stripeAccount})`)"
    )
    url: str | None = Field(
        description="Hosted checkout: Stripe's page, Shopify's checkoutUrl or a cart permalink"
    )


# Webhooks ---------------------------------------------------------------------------------------


class WebhookReceipt(BaseModel):
    received: bool = True
    event_id: str
    event_type: str
    duplicate: bool = Field(description="Already processed: acknowledged, nothing changed")
    handled: bool = Field(description="False for event types ReelCart does not act on")
    outcome: str


# Catalog sync -----------------------------------------------------------------------------------


class SyncFailure(BaseModel):
    provider_id: str
    reason: str


class SyncReportPublic(BaseModel):
    provider: CheckoutProviderName
    full: bool
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    removed: list[str]
    failed: list[SyncFailure]
    seen: int

    @classmethod
    def from_report(cls, report: SyncReport) -> SyncReportPublic:
        return cls(
            provider=CheckoutProviderName(report.provider),
            full=report.full,
            created=list(report.created),
            updated=list(report.updated),
            unchanged=list(report.unchanged),
            removed=list(report.removed),
            failed=[SyncFailure(provider_id=item.provider_id, reason=item.reason) for item in report.failed],
            seen=report.seen,
        )
