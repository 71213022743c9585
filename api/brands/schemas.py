"""Bodies for a brand: its settings and its provider connections."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from api.brands.models import ApiKeyScope, CheckoutProviderName
from commerce.providers.shopify import SHOP_DOMAIN


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


StripeAccountId = Annotated[str, StringConstraints(pattern=r"^acct_[A-Za-z0-9]{1,64}$")]


ShopDomain = Annotated[
    str,
    # Lower-cased before the pattern: webhooks name the shop in lower case and are matched exactly.
    BeforeValidator(lambda value: value.strip().lower() if isinstance(value, str) else value),
    StringConstraints(max_length=255, pattern=SHOP_DOMAIN.pattern),
]


AccessToken = Annotated[str, StringConstraints(min_length=8, max_length=500, pattern=r"^\S+$")]


class StripeConnect(_Strict):
    account_id: StripeAccountId = Field(description="The brand's Stripe Connect account, acct_…")


class ShopifyConnect(_Strict):
    shop_domain: ShopDomain = Field(examples=["drama-merch.myshopify.com"])
    access_token: AccessToken = Field(description="Admin API access token; stored encrypted, never returned")
    storefront_token: AccessToken | None = Field(
        default=None,
        description="Storefront API token for cartCreate; without one checkout uses a cart permalink",
    )


class ConnectUrl(BaseModel):
    """Where to send the account's owner to authorize ReelCart, and until when its state is accepted."""

    url: str = Field(description="The provider's authorize page; its `state` is single-use")
    expires_at: datetime


# A confidence: a number from 0 to 1 (strict: `true` is not 1.0, "0.5" is not a number).
Confidence = Annotated[float, Field(ge=0.0, le=1.0, strict=True)]
# A yes or no: `true` or `false` only (not 1, not "yes").
StrictBool = Annotated[bool, Field(strict=True)]


class LinkingSettings(_Strict):
    # Omit a field to keep it; none can be cleared, so null is not in the schema (and is refused).
    auto_approve_threshold: Confidence | SkipJsonSchema[None] = Field(
        default=None, description="Links at or above this confidence are approved"
    )
    link_floor: Confidence | SkipJsonSchema[None] = Field(
        default=None,
        description="Below this confidence a link is an unknown product; at most auto_approve_threshold",
    )
    require_print_evidence: StrictBool | SkipJsonSchema[None] = Field(
        default=None,
        description="Auto-approve only when the product's print was seen (OCR text or keypoint matches)",
    )
    own_print_auto_approve: Confidence | SkipJsonSchema[None] = Field(
        default=None,
        description="Links of a product with own_print marks whose crops matched twice the chance level of "
        "keypoints inside the marks are approved from this confidence; it never lowers approval below "
        "link_floor, and at or above auto_approve_threshold it changes nothing",
    )


class BrandUpdate(LinkingSettings):
    default_checkout_provider: CheckoutProviderName | SkipJsonSchema[None] = None


class LinkingPreview(BaseModel):
    """What `PATCH /v1/brands/me` with these linking settings would do to the placements the linker
    decided, read from their stored links; nothing is changed."""

    auto_approve_threshold: float
    link_floor: float
    require_print_evidence: bool
    own_print_auto_approve: float
    placements: int = Field(
        description="The placements the linker decided: awaiting review, or approved by it"
    )
    would_approve: int = Field(description="Awaiting review now, approved and on the timeline after")
    would_withdraw: int = Field(
        description="Approved by the linker now, withdrawn: off the timeline, back in review"
    )
    stay_approved: int
    stay_for_review: int
    not_previewed: int = Field(
        description="Not counted above: their stored link cannot say (linked before ReelCart kept what its "
        "decision weighed, scored by another linker than the running one — another fusion model —, or the "
        "new level asks for the packshots' opinion no earlier level asked for); "
        "the job links them again, which decides them"
    )
    other_index: int = Field(
        description="Not counted above: linked against another catalog index than the one last saved (the "
        "catalog changed since); the job links them again, which decides them"
    )
    catalog_pending: bool = Field(
        description="A link job or image fetch is queued or running, or an image URL waits to be fetched: "
        "the catalog may have changed since its index was saved, and then the job links every placement "
        "again instead"
    )
    queues_job: bool = Field(
        description="Whether saving these settings queues a job at all (they differ from the saved ones "
        "and the catalog has an image to link against)"
    )
    would_approve_ids: list[uuid.UUID] = Field(description="The first 100 placements it would approve")
    would_withdraw_ids: list[uuid.UUID] = Field(description="The first 100 approvals it would withdraw")


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
    own_print_auto_approve: float
    default_checkout_provider: CheckoutProviderName
    catalog_synced_at: datetime | None
    providers: BrandProviders


class ApiKeyPublic(BaseModel):
    """What the operator sees of a key: never its secret, only the first characters to recognise it by."""

    id: uuid.UUID
    name: str
    scope: ApiKeyScope
    brand_id: uuid.UUID | None = Field(description="None for an operator key")
    brand_slug: str | None
    prefix: str = Field(description="The key's first characters (rc_ and 7 more), to recognise it by")
    created_at: datetime
    revoked_at: datetime | None = Field(description="When it was revoked; None while it works")
    expires_at: datetime | None = Field(
        description="When it stops working (401 expired-api-key from then on); None: never"
    )
