"""Bodies for checkout from a hotspot."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.brands.models import CheckoutProviderName
from commerce.checkout import MAX_LINE_QUANTITY


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# Tokens and ids travel in URLs, metadata and cart attributes: keep them to a safe alphabet.
ClickId = Annotated[str, StringConstraints(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")]


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
