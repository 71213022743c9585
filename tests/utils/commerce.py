"""Commerce test helpers: settings pointing at the loopback fakes, signed requests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from commerce.checkout import Attribution, CheckoutLine, CheckoutRequest, CheckoutUi
from commerce.money import Money
from commerce.settings import CommerceSettings
from tests.commerce.fakes.stripe_fake import API_KEY

STRIPE_WEBHOOK_SECRET = "whsec_loopback_0123456789"
SHOPIFY_API_SECRET = "shpss_loopback_0123456789"


def make_settings(**overrides: Any) -> CommerceSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "stripe_secret_key": API_KEY,
        "stripe_webhook_secret": STRIPE_WEBHOOK_SECRET,
        "stripe_max_network_retries": 0,
        "stripe_timeout_s": 2.0,
        "shopify_api_secret": SHOPIFY_API_SECRET,
        "shopify_storefront_token": "storefront_token_loopback",
        "shopify_timeout_s": 2.0,
        "shopify_max_retries": 0,
        "token_encryption_key": "kT1JbEXL6fIuGxvsRZb3JfRZ0ppNjBJ2Hq8fWc1wqdY=",
        **overrides,
    }
    return CommerceSettings(**values)


def make_request(
    *,
    click_id: str = "click-7f3a",
    quantity: int = 1,
    ui: CheckoutUi = CheckoutUi.EMBEDDED,
    variant_ref: str = "price_hoodie_m",
    product_ref: str | None = "prod_hoodie",
    amount: str = "59.90",
    currency: str = "EUR",
) -> CheckoutRequest:
    return CheckoutRequest(
        lines=(
            CheckoutLine(
                variant_ref=variant_ref,
                title="Lead's hoodie",
                unit_price=Money(Decimal(amount), currency),
                quantity=quantity,
                product_ref=product_ref,
            ),
        ),
        attribution=Attribution(click_id=click_id, placement_id="plc-42", episode_id="ep-3"),
        return_url="https://watch.reelcart.test/ep-3?checkout={CHECKOUT_SESSION_ID}",
        cancel_url="https://watch.reelcart.test/ep-3",
        ui=ui,
    )
