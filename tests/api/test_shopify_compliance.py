"""Shopify's mandatory compliance webhooks: verified like every topic, then answered from what ReelCart
stores about shoppers (customers/data_request), erased (customers/redact), or unbound (shop/redact)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from api.analytics.models import Event
from api.brands.models import Brand
from api.checkout.models import CheckoutSession, Order
from tests.api.commerce_support import SHOP, Shoppable, World, shopify_delivery
from tests.utils.api import BrandAccount
from tests.utils.webhooks import count, receipt, rows, tap

CUSTOMER = {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"}


def _bought(world: World, hoodie: Shoppable, click_id: str, order_number: int) -> None:
    """A tap the player reported, its Shopify cart, and the paid order Shopify then posted."""
    started = {
        "type": "checkout_started",
        "episode_id": str(hoodie.episode.id),
        "placement_id": str(hoodie.placement.id),
        "click_id": click_id,
    }
    assert world.client.post("/v1/events", json={"events": [started]}).status_code == 202
    tap(world, hoodie, provider="shopify", click_id=click_id)
    order = world.shopify.order_webhook(cart_number=len(world.shopify.carts), order_number=order_number)
    assert receipt(shopify_delivery(world.client, order, topic="orders/create"))["handled"] is True


def _analytics(world: World, brand: BrandAccount) -> dict[str, Any]:
    report: dict[str, Any] = world.client.get("/v1/analytics/brands/me", headers=brand.headers).json()
    return report


def test_a_data_request_answers_what_is_stored_about_the_orders(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    _bought(world, hoodie, "click-aaaa", 501)

    response = shopify_delivery(
        world.client,
        {
            "shop_id": 954889,
            "shop_domain": SHOP,
            "orders_requested": [501, 999],
            "customer": CUSTOMER,
            "data_request": {"id": 9999},
        },
        topic="customers/data_request",
    )

    (order,) = rows(engine, Order)
    outcome = receipt(response)["outcome"]
    assert outcome == (
        "customer gid://shopify/Customer/191167: 1 of 2 orders stored (order id, amount, currency, status, "
        "amount refunded, time, attributed placement and episode, the tap's click id; no name, email, phone, "
        "address or IP): "
        f"gid://shopify/Order/501 59.90 EUR paid {order.created_at.isoformat()} "
        f"placement {hoodie.placement.id}"
    )
    assert CUSTOMER["email"] not in outcome


def test_customers_redact_unlinks_the_orders_from_the_taps_and_keeps_the_counts(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given two shoppers bought, each from their own tap
    _bought(world, hoodie, "click-aaaa", 501)
    _bought(world, hoodie, "click-bbbb", 502)
    before = _analytics(world, brand)

    # When Shopify asks to redact the first one's order
    response = shopify_delivery(
        world.client,
        {"shop_id": 954889, "shop_domain": SHOP, "customer": CUSTOMER, "orders_to_redact": [501]},
        topic="customers/redact",
    )

    # Then its click id is gone from its checkout and the events, the other shopper's stays
    assert receipt(response)["outcome"] == (
        "customer gid://shopify/Customer/191167: 1 of 1 orders stored, 1 click ids redacted "
        "(no name, email, phone, address or IP is stored)"
    )
    clicks = sorted(row.click_id for row in rows(engine, CheckoutSession))
    assert clicks[0] == "click-bbbb"
    assert clicks[1].startswith("redacted-")
    event_clicks = sorted(row.click_id for row in rows(engine, Event) if row.click_id)
    assert "click-aaaa" not in event_clicks
    assert clicks[1] in event_clicks
    # And the brand's numbers did not move
    assert _analytics(world, brand) == before


def test_shop_redact_removes_the_shops_tokens_and_binding(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    response = shopify_delivery(world.client, {"shop_id": 954889, "shop_domain": SHOP}, topic="shop/redact")

    assert receipt(response)["outcome"] == (
        f"shop {SHOP} redacted: its tokens and its binding to brand acme-drinks removed"
    )
    with Session(engine) as session:
        stored = session.get(Brand, brand.brand.id)
        assert stored is not None
        assert (
            stored.shopify_shop_domain,
            stored.shopify_access_token_encrypted,
            stored.shopify_storefront_token_encrypted,
        ) == (None, None, None)
        assert stored.stripe_account_id is not None  # Stripe is another provider's binding
    refused = world.client.post("/v1/checkout", json=hoodie.checkout_body(provider="shopify"))
    assert refused.json()["type"] == "https://reelcart.dev/problems/provider-not-connected"


def test_compliance_deliveries_are_verified_like_every_topic(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    body = {"shop_id": 954889, "shop_domain": SHOP}

    forged = shopify_delivery(world.client, body, topic="shop/redact", secret="shpss_not_the_app")
    # A signed body of one shop re-sent with another shop's (unsigned) header
    other_shop = shopify_delivery(
        world.client, {"shop_id": 1, "shop_domain": "other.myshopify.com"}, topic="shop/redact"
    )
    # A signed customer body re-sent under the shop/redact topic header
    customer_body = shopify_delivery(
        world.client,
        {"shop_domain": SHOP, "customer": CUSTOMER, "orders_to_redact": []},
        topic="shop/redact",
    )
    missing_orders = shopify_delivery(
        world.client, {"shop_domain": SHOP, "customer": CUSTOMER}, topic="customers/redact"
    )

    assert forged.status_code == 400
    assert forged.json()["type"] == "https://reelcart.dev/problems/invalid-webhook-signature"
    for refused in (other_shop, customer_body, missing_orders):
        assert refused.status_code == 400, refused.text
        assert refused.json()["type"] == "https://reelcart.dev/problems/invalid-webhook-payload"
    with Session(engine) as session:
        stored = session.get(Brand, brand.brand.id)
        assert stored is not None
        assert stored.shopify_shop_domain == SHOP
    assert count(engine, Order) == 0
