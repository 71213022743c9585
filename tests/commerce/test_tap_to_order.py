"""The whole library path: a tap becomes a provider checkout, the provider's webhook comes back signed,
and the parsed order carries the same click, placement and episode ids to the handler."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from decimal import Decimal

import stripe

from commerce.events import ShopifyOrderCreated, StripeCheckoutEvent
from commerce.money import Money
from commerce.providers.shopify import ShopifyCheckoutProvider
from commerce.providers.stripe import StripeCheckoutProvider
from commerce.webhooks import (
    DispatchResult,
    WebhookDispatcher,
    verify_and_parse_shopify,
    verify_and_parse_stripe,
)
from tests.commerce.fakes.loopback import LoopbackServer
from tests.commerce.fakes.shopify_fake import SHOP, STOREFRONT_TOKEN, FakeShopify, product_node, variant_node
from tests.commerce.fakes.stripe_fake import FakeStripe
from tests.utils.commerce import SHOPIFY_API_SECRET, STRIPE_WEBHOOK_SECRET, make_request, make_settings


def test_a_stripe_tap_comes_back_as_a_paid_attributed_order(
    fake_stripe: tuple[FakeStripe, LoopbackServer],
) -> None:
    # Given a shopper tapped the hoodie and Stripe created the embedded session
    fake, server = fake_stripe
    settings = make_settings(stripe_api_base=server.base_url)
    request = make_request(quantity=2)
    result = StripeCheckoutProvider.from_settings(settings, account_id="acct_1Brand").create_checkout(request)

    # When Stripe reports the payment with a signed webhook
    body = fake.completed_event(result.provider_session_id, "evt_paid_1", "acct_1Brand")
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), STRIPE_WEBHOOK_SECRET)
    event = verify_and_parse_stripe(body, header, settings)

    # Then the order handler sees a paid order with our attribution and amount
    orders: list[StripeCheckoutEvent] = []
    dispatcher: WebhookDispatcher[None] = WebhookDispatcher()
    dispatcher.on(StripeCheckoutEvent, orders.append)
    assert dispatcher.dispatch(event) == DispatchResult(
        "stripe", "evt_paid_1", "checkout.session.completed", handled=True
    )
    (order,) = orders
    assert (order.paid, order.session_id, order.attribution, order.amount_total, order.account_id) == (
        True,
        result.provider_session_id,
        request.attribution,
        Money(Decimal("119.80"), "EUR"),
        "acct_1Brand",
    )


def test_a_shopify_tap_comes_back_as_an_attributed_order(
    fake_shopify: tuple[FakeShopify, LoopbackServer],
) -> None:
    # Given a cart created for the tap
    fake, server = fake_shopify
    fake.products = [product_node(1, "Lead hoodie", [variant_node(11)])]
    settings = make_settings(shopify_base_url=server.base_url)
    request = make_request(quantity=2, variant_ref="gid://shopify/ProductVariant/11", product_ref=None)
    provider = ShopifyCheckoutProvider(settings, shop_domain=SHOP, storefront_token=STOREFRONT_TOKEN)
    provider.create_checkout(request)

    # When Shopify posts orders/create, signed with the app secret
    body = fake.order_webhook(cart_number=1, order_number=77)
    signature = base64.b64encode(
        hmac.new(SHOPIFY_API_SECRET.encode(), body, hashlib.sha256).digest()
    ).decode()
    headers = {
        "X-Shopify-Hmac-Sha256": signature,
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Event-Id": "evt-order-77",
        "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
    }
    event = verify_and_parse_shopify(body, headers, settings)

    # Then the cart attributes came back as the order's attribution
    assert isinstance(event, ShopifyOrderCreated)
    assert (event.attribution, event.total, event.order_id) == (
        request.attribution,
        Money(Decimal("119.80"), "EUR"),
        "gid://shopify/Order/77",
    )
