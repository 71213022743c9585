"""Signed Stripe and Shopify webhooks through HTTP: verified first, stored once, orders counted once."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from httpx import Response
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from api.brands.models import Brand
from api.catalog.models import Product, Variant
from api.checkout.models import CheckoutSession, Order
from api.jobs.queue import JobKind
from api.linking.models import LinkJob
from api.settings import ApiSettings
from api.webhooks.models import ProcessedWebhook
from tests.api.commerce_support import (
    ACCOUNT,
    SHOP,
    SHOPIFY_VARIANT,
    STRIPE_WEBHOOK_SECRET,
    Shoppable,
    World,
    connect_shopify,
    make_shoppable,
    shopify_delivery,
    stripe_delivery,
    stripe_event_body,
)
from tests.api.conftest import BrandAccount, RecordingQueue
from tests.commerce.fakes.loopback import Reply
from tests.commerce.fakes.shopify_fake import product_node, variant_node


def tap(world: World, item: Shoppable, *, click_id: str = "click-0001", **changes: Any) -> dict[str, Any]:
    response = world.client.post("/v1/checkout", json=item.checkout_body(click_id=click_id, **changes))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def paid_body(world: World, session_id: str = "cs_test_0001", event_id: str = "evt_paid_1") -> bytes:
    return world.stripe.completed_event(session_id, event_id, ACCOUNT)


def rows(engine: Engine, model: Any) -> list[Any]:
    with Session(engine) as session:
        return list(session.exec(select(model)).all())


def count(engine: Engine, model: Any) -> int:
    with Session(engine) as session:
        total: int = session.exec(select(func.count()).select_from(model)).one()
        return total


def receipt(response: Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def paid_order_row(
    brand: BrandAccount,
    item: Shoppable,
    tapped: dict[str, Any],
    *,
    provider: str,
    event_id: str,
    order_id: str,
) -> dict[str, Any]:
    """The stored Order (without id and timestamp) of a paid tap for two hoodies: 119.80 EUR,
    attributed to the tap's checkout, placement, episode and brand."""
    return {
        "brand_id": brand.brand.id,
        "provider": provider,
        "provider_event_id": event_id,
        "provider_order_id": order_id,
        "checkout_session_id": uuid.UUID(tapped["checkout_session_id"]),
        "placement_id": item.placement.id,
        "episode_id": item.episode.id,
        "amount": Decimal("119.800"),
        "currency": "EUR",
        "status": "paid",
    }


# Stripe ------------------------------------------------------------------------------------------


def test_a_paid_stripe_checkout_becomes_one_attributed_order(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given a tap for two hoodies
    tapped = tap(world, hoodie, quantity=2)

    # When Stripe reports the payment
    response = stripe_delivery(world.client, paid_body(world))

    # Then an order links the tap, placement, episode and brand, with Stripe's amount as Decimal
    (order,) = rows(engine, Order)
    assert receipt(response) == {
        "received": True,
        "event_id": "evt_paid_1",
        "event_type": "checkout.session.completed",
        "duplicate": False,
        "handled": True,
        "outcome": f"order {order.id} recorded (paid, 119.80 EUR)",
    }
    assert order.model_dump(exclude={"id", "created_at"}) == paid_order_row(
        brand, hoodie, tapped, provider="stripe", event_id="evt_paid_1", order_id="cs_test_0001"
    )
    # And the checkout is completed, and the event is stored once with its outcome
    assert [row.status for row in rows(engine, CheckoutSession)] == ["completed"]
    (processed,) = rows(engine, ProcessedWebhook)
    assert (processed.provider, processed.event_id, processed.event_type, processed.outcome) == (
        "stripe",
        "evt_paid_1",
        "checkout.session.completed",
        f"order {order.id} recorded (paid, 119.80 EUR)",
    )


def test_a_duplicate_delivery_is_acknowledged_and_changes_nothing(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    # Given a delivered payment
    tap(world, hoodie)
    body = paid_body(world)
    stripe_delivery(world.client, body)

    # When Stripe delivers the same event again (a retry, with a fresh signature)
    again = stripe_delivery(world.client, body)

    # Then it is acknowledged as a duplicate and still one order exists
    assert receipt(again) | {"outcome": "…"} == {
        "received": True,
        "event_id": "evt_paid_1",
        "event_type": "checkout.session.completed",
        "duplicate": True,
        "handled": False,
        "outcome": "…",
    }
    assert (count(engine, Order), count(engine, ProcessedWebhook)) == (1, 1)


def test_a_replayed_delivery_within_the_tolerance_is_a_duplicate(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    # Given a delivery an attacker captured, signature header and all
    tap(world, hoodie)
    body = paid_body(world)
    header = f"t={int(time.time())},v1=" + _v1(body, int(time.time()))
    first = stripe_delivery(world.client, body, header=header)

    # When it is replayed byte for byte
    replayed = stripe_delivery(world.client, body, header=header)

    # Then the replay changes nothing
    assert (receipt(first)["duplicate"], receipt(replayed)["duplicate"]) == (False, True)
    assert count(engine, Order) == 1


def _v1(body: bytes, timestamp: int) -> str:
    """Stripe's v1 scheme by hand (HMAC-SHA256 of "{t}.{body}"), to sign a body other than the one sent."""
    payload = f"{timestamp}.{body.decode()}".encode()
    return hmac.new(STRIPE_WEBHOOK_SECRET.encode(), payload, hashlib.sha256).hexdigest()


# Validation and plain lookups behave alike on both databases; SQLite alone keeps the suite fast.
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("forged", "signature does not match the body"),
        ("stale", "timestamp outside the tolerance (stale or replayed delivery)"),
        ("missing", "missing Stripe-Signature header"),
        ("tampered", "signature does not match the body"),
    ],
)
def test_forged_stale_and_unsigned_stripe_deliveries_are_400_and_logged_without_the_body(
    world: World,
    hoodie: Shoppable,
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
    how: str,
    reason: str,
) -> None:
    # Given a payment event for a real tap
    tap(world, hoodie)
    body = paid_body(world)

    # When it arrives forged, late (an old capture replayed), unsigned or altered after signing
    caplog.set_level(logging.INFO)
    if how == "forged":
        response = stripe_delivery(world.client, body, secret="whsec_attacker_guess")
    elif how == "stale":
        response = stripe_delivery(world.client, body, timestamp=int(time.time()) - 301)
    elif how == "missing":
        response = world.client.post("/webhooks/stripe", content=body)
    else:
        signed_for = body.replace(b'"amount_total": 5990', b'"amount_total": 1')
        assert signed_for != body
        header = f"t={int(time.time())},v1=" + _v1(signed_for, int(time.time()))
        response = stripe_delivery(world.client, body, header=header)

    # Then 400 with the reason, nothing stored, and the log has the reason but not the body
    assert response.status_code == 400
    assert response.json()["detail"] == f"stripe webhook rejected: {reason}"
    assert (count(engine, Order), count(engine, ProcessedWebhook)) == (0, 0)
    rejected = [record.getMessage() for record in caplog.records if "rejected" in record.getMessage()]
    assert rejected == [f"rejected stripe webhook: {reason}"]
    assert "cs_test_0001" not in caplog.text
    assert "evt_paid_1" not in caplog.text


def test_an_unknown_event_type_is_acknowledged_and_ignored(world: World, engine: Engine) -> None:
    body = stripe_event_body(
        {"id": "cus_1", "object": "customer"}, event_id="evt_customer", event_type="customer.created"
    )
    response = stripe_delivery(world.client, body)
    assert receipt(response) == {
        "received": True,
        "event_id": "evt_customer",
        "event_type": "customer.created",
        "duplicate": False,
        "handled": False,
        "outcome": "ignored: event type not used by ReelCart",
    }
    assert (count(engine, Order), count(engine, ProcessedWebhook)) == (0, 1)


@pytest.mark.parametrize(
    ("event_type", "payment_status", "status"),
    [
        ("checkout.session.expired", "unpaid", "expired"),
        ("checkout.session.async_payment_failed", "unpaid", "payment_failed"),
        ("checkout.session.completed", "unpaid", "awaiting_payment"),
    ],
)
def test_unpaid_stripe_outcomes_update_the_checkout_and_count_no_order(
    world: World, hoodie: Shoppable, engine: Engine, event_type: str, payment_status: str, status: str
) -> None:
    tap(world, hoodie)
    body = stripe_event_body(
        world.stripe.sessions["cs_test_0001"],
        event_id="evt_1",
        event_type=event_type,
        payment_status=payment_status,
    )
    response = stripe_delivery(world.client, body)
    (row,) = rows(engine, CheckoutSession)
    assert receipt(response)["outcome"] == f"checkout {row.id} is {status}"
    assert (row.status, count(engine, Order)) == (status, 0)


def test_a_delayed_payment_counts_once_even_across_two_paid_events(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    # Given a SEPA-style checkout: completed unpaid, then the payment succeeds
    tap(world, hoodie)
    session = world.stripe.sessions["cs_test_0001"]
    stripe_delivery(world.client, stripe_event_body(session, event_id="evt_1", payment_status="unpaid"))
    stripe_delivery(
        world.client,
        stripe_event_body(
            session,
            event_id="evt_2",
            event_type="checkout.session.async_payment_succeeded",
            payment_status="paid",
        ),
    )

    # When a different event about the same paid session arrives too
    third = stripe_delivery(world.client, stripe_event_body(session, event_id="evt_3", payment_status="paid"))

    # Then the purchase is one order
    (order,) = rows(engine, Order)
    assert order.provider_event_id == "evt_2"
    assert receipt(third)["outcome"] == f"already recorded as order {order.id}"
    assert [row.status for row in rows(engine, CheckoutSession)] == ["completed"]


def test_a_session_reported_by_another_stripe_account_is_ignored(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    tap(world, hoodie)
    body = world.stripe.completed_event("cs_test_0001", "evt_paid_1", "acct_1SomeoneElse")
    response = stripe_delivery(world.client, body)
    assert (
        receipt(response)["outcome"] == "ignored: session cs_test_0001 is not from the brand's Stripe account"
    )
    assert count(engine, Order) == 0


def test_concurrent_duplicate_deliveries_record_one_order(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL; the in-memory SQLite shares one connection")

    # Given a paid checkout
    tap(world, hoodie)
    body = paid_body(world)

    # When Stripe's retries and a second endpoint deliver the same event eight times at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: stripe_delivery(world.client, body), range(8)))

    # Then all are acknowledged, exactly one was processed, and one order exists
    assert [response.status_code for response in responses] == [200] * 8
    assert sorted(response.json()["duplicate"] for response in responses) == [False] + [True] * 7
    assert (count(engine, Order), count(engine, ProcessedWebhook)) == (1, 1)


def test_concurrent_different_events_for_one_purchase_record_one_order(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL; the in-memory SQLite shares one connection")
    tap(world, hoodie)
    bodies = [paid_body(world, event_id=f"evt_paid_{n}") for n in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda body: stripe_delivery(world.client, body), bodies))
    assert [response.status_code for response in responses] == [200] * 6
    assert (count(engine, Order), count(engine, ProcessedWebhook)) == (1, 6)


# Shopify -----------------------------------------------------------------------------------------


def test_a_shopify_order_is_attributed_from_its_note_attributes(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given a Shopify cart for two hoodies
    tapped = tap(world, hoodie, provider="shopify", quantity=2)

    # When Shopify posts orders/create, the cart attributes copied to note_attributes
    response = shopify_delivery(
        world.client,
        world.shopify.order_webhook(cart_number=1, order_number=77),
        topic="orders/create",
        event_id="e-77",
    )

    # Then one order, linked like a Stripe one
    (order,) = rows(engine, Order)
    assert receipt(response)["outcome"] == f"order {order.id} recorded (paid, 119.80 EUR)"
    assert order.model_dump(exclude={"id", "created_at"}) == paid_order_row(
        brand, hoodie, tapped, provider="shopify", event_id="e-77", order_id="gid://shopify/Order/77"
    )
    assert [row.status for row in rows(engine, CheckoutSession)] == ["completed"]


def test_shopify_duplicates_by_event_or_by_order_count_once(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    tap(world, hoodie, provider="shopify")
    body = world.shopify.order_webhook(cart_number=1, order_number=77)
    shopify_delivery(world.client, body, topic="orders/create", event_id="e-77")

    # The same event again, then the same order under another event id (a second subscription)
    same_event = shopify_delivery(world.client, body, topic="orders/create", event_id="e-77")
    same_order = shopify_delivery(world.client, body, topic="orders/create", event_id="e-77-bis")

    assert receipt(same_event)["duplicate"] is True
    assert receipt(same_order)["outcome"].startswith("already recorded as order ")
    assert count(engine, Order) == 1


def test_a_pending_shopify_order_is_stored_but_not_counted_as_paid(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    tap(world, hoodie, provider="shopify")
    order = json.loads(world.shopify.order_webhook(cart_number=1, order_number=78))
    order["financial_status"] = "pending"
    shopify_delivery(world.client, order, topic="orders/create")
    assert [(row.status, row.placement_id) for row in rows(engine, Order)] == [
        ("pending", hoodie.placement.id)
    ]
    assert [row.status for row in rows(engine, CheckoutSession)] == ["open"]


def test_orders_without_attribution_or_from_unknown_shops_are_ignored(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    tap(world, hoodie, provider="shopify")
    order = json.loads(world.shopify.order_webhook(cart_number=1, order_number=79))
    unattributed = shopify_delivery(world.client, order | {"note_attributes": []}, topic="orders/create")
    elsewhere = shopify_delivery(world.client, order, topic="orders/create", shop="other-shop.myshopify.com")
    assert receipt(unattributed)["outcome"] == "ignored: order #1079 has no ReelCart attribution"
    assert (
        receipt(elsewhere)["outcome"] == "ignored: shop other-shop.myshopify.com is not connected to a brand"
    )
    assert count(engine, Order) == 0


# Validation and plain lookups behave alike on both databases; SQLite alone keeps the suite fast.
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("kwargs", "detail"),
    [
        ({"secret": "shpss_attacker_guess"}, "shopify webhook rejected: HMAC does not match the body"),
        ({"signature": "not-even-base64"}, "shopify webhook rejected: HMAC does not match the body"),
        (
            {"topic": ""},
            "shopify webhook rejected: missing X-Shopify-Topic, -Shop-Domain or -Event-Id header",
        ),
    ],
)
def test_forged_shopify_deliveries_are_400_and_change_nothing(
    world: World,
    hoodie: Shoppable,
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
    kwargs: dict[str, str],
    detail: str,
) -> None:
    tap(world, hoodie, provider="shopify")
    body = world.shopify.order_webhook(cart_number=1, order_number=80)
    caplog.set_level(logging.INFO)
    response = shopify_delivery(world.client, body, **({"topic": "orders/create"} | kwargs))
    assert (response.status_code, response.json()["detail"]) == (400, detail)
    assert (count(engine, Order), count(engine, ProcessedWebhook)) == (0, 0)
    assert "#1080" not in caplog.text


def test_a_product_update_refetches_the_product_and_updates_the_timeline(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    # Given the hoodie came from Shopify and its price then changed there
    with Session(engine) as session:
        product = session.get(Product, hoodie.product.id)
        assert product is not None
        product.shopify_product_gid = "gid://shopify/Product/1"
        session.add(product)
        session.commit()
    world.shopify.products = [
        product_node(1, "Lead hoodie (S2)", [variant_node(11, price="49.90"), variant_node(12, title="L")])
    ]

    # When Shopify says the product changed
    response = shopify_delivery(
        world.client, {"id": 1, "admin_graphql_api_id": "gid://shopify/Product/1"}, topic="products/update"
    )

    # Then the product was read once, through Admin GraphQL, and the catalog and the public timeline
    # show the new title, price and variant
    assert receipt(response)["outcome"] == "product gid://shopify/Product/1 updated"
    (fetched,) = world.shopify_server.requests
    assert (fetched.path, fetched.json()["variables"]) == (
        "/admin/api/2026-10/graphql.json",
        {"id": "gid://shopify/Product/1"},
    )
    timeline = world.client.get(f"/v1/episodes/{hoodie.episode.id}/timeline").json()
    (shown,) = timeline["placements"]
    assert shown["product"]["title"] == "Lead hoodie (S2)"
    assert [(v["sku"], v["price"], v["available"]) for v in shown["product"]["variants"]] == [
        ("HOODIE-M", "49.90", True),
        ("shopify-12", "59.90", True),
    ]


def test_a_product_create_for_an_unknown_product_adds_it_and_queues_its_images_for_indexing(
    world: World, hoodie: Shoppable, engine: Engine, job_queue: RecordingQueue
) -> None:
    world.shopify.products = [product_node(2, "Scarf", [variant_node(21, price="19.00", sku="SCARF")])]
    response = shopify_delivery(world.client, {"id": 2}, topic="products/create")
    assert receipt(response)["outcome"] == "product gid://shopify/Product/2 created"
    (refresh,) = job_queue.enqueued
    with Session(engine) as session:
        job = session.get(LinkJob, refresh.id)
        assert job is not None
        assert (refresh.kind, job.brand_id, job.index_only) == (JobKind.LINK, hoodie.product.brand_id, True)
    with Session(engine) as session:
        (scarf,) = session.exec(select(Variant).where(Variant.sku == "SCARF")).all()
        assert (scarf.shopify_variant_gid, scarf.price, scarf.currency) == (
            "gid://shopify/ProductVariant/21",
            Decimal("19.000"),
            "EUR",
        )


def test_a_product_delete_removes_it_and_its_placement_goes_back_to_review(
    world: World, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    connect_shopify(world.client, brand)
    item = make_shoppable(engine, settings, brand, shopify_variant_gid=SHOPIFY_VARIANT)
    with Session(engine) as session:
        product = session.get(Product, item.product.id)
        assert product is not None
        product.shopify_product_gid = "gid://shopify/Product/1"
        session.add(product)
        session.commit()

    response = shopify_delivery(world.client, {"id": 1}, topic="products/delete")

    assert receipt(response)["outcome"] == "product gid://shopify/Product/1 removed"
    assert count(engine, Product) == 0
    assert world.client.get(f"/v1/episodes/{item.episode.id}/timeline").json()["placements"] == []


def test_a_failed_product_refetch_is_not_acknowledged_so_shopify_redelivers(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    # Given Shopify's Admin API is down
    world.shopify.faults.append(Reply.json(503, {"errors": "unavailable"}))

    # When a product webhook needs a re-fetch
    response = shopify_delivery(world.client, {"id": 1}, topic="products/update", event_id="e-prod")

    # Then it is not acknowledged and not stored as processed, so the redelivery is handled
    assert (response.status_code, response.json()["retryable"]) == (502, True)
    assert count(engine, ProcessedWebhook) == 0
    redelivered = shopify_delivery(world.client, {"id": 1}, topic="products/update", event_id="e-prod")
    assert receipt(redelivered)["duplicate"] is False


def test_app_uninstalled_clears_the_shops_tokens(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    response = shopify_delivery(world.client, {"id": 1, "domain": SHOP}, topic="app/uninstalled")
    assert receipt(response)["outcome"] == f"shop {SHOP} uninstalled: tokens cleared"
    with Session(engine) as session:
        stored = session.get(Brand, brand.brand.id)
        assert stored is not None
        assert (
            stored.shopify_shop_domain,
            stored.shopify_access_token_encrypted,
            stored.shopify_storefront_token_encrypted,
        ) == (
            SHOP,
            None,
            None,
        )
    me = world.client.get("/v1/brands/me", headers=brand.headers).json()
    assert me["providers"]["shopify"]["connected"] is False


# Analytics ---------------------------------------------------------------------------------------


def test_analytics_reconcile_with_the_orders_webhooks_create(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given player events: 4 impressions and 3 taps on the hoodie
    events = [
        {"type": kind, "episode_id": str(hoodie.episode.id), "placement_id": str(hoodie.placement.id)}
        for kind in ["hotspot_impression"] * 4 + ["hotspot_tap"] * 3
    ]
    assert world.client.post("/v1/events", json={"events": events}).status_code == 202
    # And three checkouts: one paid on Stripe (delivered twice), one paid on Shopify, one abandoned
    tap(world, hoodie, click_id="click-stripe-1", quantity=2)
    tap(world, hoodie, click_id="click-shopify-1", provider="shopify")
    tap(world, hoodie, click_id="click-stripe-2")
    paid = paid_body(world, "cs_test_0001", "evt_paid_1")
    stripe_delivery(world.client, paid)
    stripe_delivery(world.client, paid)
    shopify_delivery(
        world.client, world.shopify.order_webhook(cart_number=1, order_number=90), topic="orders/create"
    )

    # When the brand reads the episode's funnel
    report = world.client.get(f"/v1/analytics/episodes/{hoodie.episode.id}", headers=brand.headers).json()

    # Then it counts exactly the stored rows: 3 checkouts, 2 orders, 119.80 + 59.90 EUR
    (placement,) = report["placements"]
    assert {
        key: placement[key] for key in ("impressions", "taps", "checkouts", "orders", "revenue", "conversion")
    } == {
        "impressions": 4,
        "taps": 3,
        "checkouts": 3,
        "orders": 2,
        "revenue": {"EUR": "179.70"},
        "conversion": round(2 / 3, 4),
    }
    with Session(engine) as session:
        paid_orders = session.exec(select(Order).where(Order.status == "paid")).all()
        assert len(paid_orders) == report["orders"] == 2
        assert sum(order.amount for order in paid_orders) == Decimal(report["revenue"]["EUR"])
        assert session.exec(select(func.count()).select_from(CheckoutSession)).one() == report["checkouts"]


def test_concurrent_shopify_deliveries_of_one_order_under_different_event_ids_count_once(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL; the in-memory SQLite shares one connection")
    # Given one Shopify order that two webhook subscriptions deliver, each with its own event id
    tap(world, hoodie, provider="shopify")
    body = world.shopify.order_webhook(cart_number=1, order_number=91)

    # When six deliveries race
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(
            pool.map(
                lambda n: shopify_delivery(world.client, body, topic="orders/create", event_id=f"e-91-{n}"),
                range(6),
            )
        )

    # Then all are acknowledged and the order is counted once
    assert [response.status_code for response in responses] == [200] * 6
    assert (count(engine, Order), count(engine, ProcessedWebhook)) == (1, 6)


def test_an_attributed_order_without_a_recorded_tap_still_credits_the_placement(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given an order whose cart attributes name our placement, but no checkout row (e.g. a shared cart link)
    order = {
        "id": 92,
        "name": "#1092",
        "total_price": "59.90",
        "currency": "EUR",
        "financial_status": "paid",
        "note_attributes": [
            {"name": "reelcart_click_id", "value": "click-shared"},
            {"name": "reelcart_placement_id", "value": str(hoodie.placement.id)},
            {"name": "reelcart_episode_id", "value": str(hoodie.episode.id)},
        ],
    }

    # When
    shopify_delivery(world.client, order, topic="orders/create", event_id="e-92")

    # Then the order is the placement's, without a checkout session
    (stored,) = rows(engine, Order)
    assert (stored.brand_id, stored.placement_id, stored.episode_id, stored.checkout_session_id) == (
        brand.brand.id,
        hoodie.placement.id,
        hoodie.episode.id,
        None,
    )


def test_an_order_naming_another_brands_placement_is_ignored(
    world: World, hoodie: Shoppable, engine: Engine, settings: ApiSettings, other_brand: BrandAccount
) -> None:
    # Given a placement of another brand, named in an order from this brand's shop
    theirs = make_shoppable(engine, settings, other_brand, sku="RIVAL-1")
    order = {
        "id": 93,
        "name": "#1093",
        "total_price": "59.90",
        "currency": "EUR",
        "financial_status": "paid",
        "note_attributes": [
            {"name": "reelcart_click_id", "value": "click-forged"},
            {"name": "reelcart_placement_id", "value": str(theirs.placement.id)},
            {"name": "reelcart_episode_id", "value": str(theirs.episode.id)},
        ],
    }

    # When
    response = shopify_delivery(world.client, order, topic="orders/create")

    # Then the other brand's analytics are not inflated
    assert receipt(response)["outcome"] == "ignored: order #1093 names no placement of this brand"
    assert count(engine, Order) == 0


# Shopify orders/paid and orders/cancelled ---------------------------------------------------------


def pending_order(world: World, order_number: int, cart_number: int = 1) -> dict[str, Any]:
    order: dict[str, Any] = json.loads(world.shopify.order_webhook(cart_number, order_number))
    return order | {"financial_status": "pending"}


def funnel(world: World, item: Shoppable, brand: BrandAccount) -> dict[str, Any]:
    report = world.client.get(f"/v1/analytics/episodes/{item.episode.id}", headers=brand.headers).json()
    (placement,) = report["placements"]
    return {key: placement[key] for key in ("checkouts", "orders", "revenue")}


def test_a_pending_shopify_order_counts_once_when_orders_paid_arrives(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given a Shopify order stored as pending at orders/create
    tapped = tap(world, hoodie, provider="shopify", quantity=2)
    order = pending_order(world, 80)
    shopify_delivery(world.client, order, topic="orders/create", event_id="e-80-create")
    assert funnel(world, hoodie, brand) == {"checkouts": 1, "orders": 0, "revenue": {}}

    # When orders/paid arrives, then again (redelivery) and under a second subscription's event id
    paid = order | {"financial_status": "paid"}
    first = shopify_delivery(world.client, paid, topic="orders/paid", event_id="e-80-paid")
    again = shopify_delivery(world.client, paid, topic="orders/paid", event_id="e-80-paid")
    other = shopify_delivery(world.client, paid, topic="orders/paid", event_id="e-80-paid-bis")

    # Then the one stored order is paid, its checkout completed, and analytics count it once
    (stored,) = rows(engine, Order)
    assert receipt(first)["outcome"] == f"order {stored.id} is paid (119.80 EUR)"
    assert receipt(again)["duplicate"] is True
    assert receipt(other)["outcome"] == f"order {stored.id} stays paid"
    assert stored.model_dump(exclude={"id", "created_at"}) == paid_order_row(
        brand, hoodie, tapped, provider="shopify", event_id="e-80-create", order_id="gid://shopify/Order/80"
    )
    assert [row.status for row in rows(engine, CheckoutSession)] == ["completed"]
    assert funnel(world, hoodie, brand) == {"checkouts": 1, "orders": 1, "revenue": {"EUR": "119.80"}}


def test_orders_paid_without_orders_create_records_the_attributed_order(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given a tap whose orders/create delivery was lost
    tap(world, hoodie, provider="shopify")
    paid = pending_order(world, 81) | {"financial_status": "paid"}

    # When only orders/paid arrives, and then the late orders/create with its pending snapshot
    first = shopify_delivery(world.client, paid, topic="orders/paid", event_id="e-81-paid")
    late = shopify_delivery(world.client, pending_order(world, 81), topic="orders/create")

    # Then one paid order, attributed from note_attributes, is counted; the late create changes nothing
    (stored,) = rows(engine, Order)
    assert receipt(first)["outcome"] == f"order {stored.id} recorded (paid, 59.90 EUR)"
    assert receipt(late)["outcome"] == f"already recorded as order {stored.id}"
    assert (stored.status, stored.placement_id, stored.provider_event_id) == (
        "paid",
        hoodie.placement.id,
        "e-81-paid",
    )
    assert funnel(world, hoodie, brand) == {"checkouts": 1, "orders": 1, "revenue": {"EUR": "59.90"}}


def test_a_cancelled_shopify_order_is_not_counted_and_stays_cancelled(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given a paid Shopify order
    tap(world, hoodie, provider="shopify")
    order = pending_order(world, 82) | {"financial_status": "paid"}
    shopify_delivery(world.client, order, topic="orders/create")

    # When the merchant cancels it, and a stale orders/paid is delivered afterwards
    cancelled = order | {"financial_status": "refunded", "cancelled_at": "2026-11-24T18:00:00Z"}
    cancel = shopify_delivery(world.client, cancelled, topic="orders/cancelled")
    stale = shopify_delivery(world.client, order, topic="orders/paid")
    unknown = shopify_delivery(world.client, pending_order(world, 83), topic="orders/cancelled")

    # Then the order is cancelled, uncounted, and a cancel for an unknown order is ignored
    (stored,) = rows(engine, Order)
    assert receipt(cancel)["outcome"] == f"order {stored.id} is cancelled"
    assert receipt(stale)["outcome"] == f"order {stored.id} stays cancelled"
    assert receipt(unknown)["outcome"] == "ignored: order #1083 was never recorded"
    assert stored.status == "cancelled"
    assert funnel(world, hoodie, brand) == {"checkouts": 1, "orders": 0, "revenue": {}}


def test_orders_paid_from_another_shop_does_not_touch_this_brands_order(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    tap(world, hoodie, provider="shopify")
    order = pending_order(world, 84)
    shopify_delivery(world.client, order, topic="orders/create")
    response = shopify_delivery(
        world.client,
        order | {"financial_status": "paid"},
        topic="orders/paid",
        shop="other-shop.myshopify.com",
    )
    assert (
        receipt(response)["outcome"] == "ignored: shop other-shop.myshopify.com is not connected to a brand"
    )
    assert [row.status for row in rows(engine, Order)] == ["pending"]


def test_concurrent_orders_create_and_orders_paid_for_one_order_count_once(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL; the in-memory SQLite shares one connection")
    # Given one order whose create (pending) and paid deliveries, each from two subscriptions, race
    tap(world, hoodie, provider="shopify")
    pending = pending_order(world, 85)
    deliveries = [("orders/create", pending, f"e-85-create-{n}") for n in range(3)] + [
        ("orders/paid", pending | {"financial_status": "paid"}, f"e-85-paid-{n}") for n in range(3)
    ]

    # When all six (plus a duplicate of each) arrive at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(
            pool.map(
                lambda item: shopify_delivery(world.client, item[1], topic=item[0], event_id=item[2]),
                deliveries * 2,
            )
        )

    # Then everything is acknowledged, six events were processed, and one paid order is counted
    assert [response.status_code for response in responses] == [200] * 12
    assert (count(engine, Order), count(engine, ProcessedWebhook)) == (1, 6)
    assert [row.status for row in rows(engine, Order)] == ["paid"]
    assert funnel(world, hoodie, brand) == {"checkouts": 1, "orders": 1, "revenue": {"EUR": "59.90"}}
