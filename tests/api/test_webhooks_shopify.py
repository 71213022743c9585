"""Signed Shopify webhooks through HTTP: orders attributed and counted once, product changes synced,
uninstalls honoured, analytics reconciled with the orders they create."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from httpx import Response
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from api.brands.models import Brand
from api.catalog.models import ImageFetchJob, Product, ProductImage, Variant
from api.checkout.models import CheckoutSession, Order
from api.jobs.queue import JobKind, JobRef
from api.linking.models import LinkJob
from api.review.models import PlacementStatus, ReviewAction
from api.settings import ApiSettings
from api.webhooks.models import ProcessedWebhook
from tests.api.commerce_support import (
    SHOP,
    SHOPIFY_VARIANT,
    Shoppable,
    World,
    connect_shopify,
    make_shoppable,
    shopify_delivery,
    stripe_delivery,
)
from tests.api.concurrency import skip_unless_postgres
from tests.api.factories import make_placement, make_product
from tests.commerce.fakes.loopback import Reply
from tests.commerce.fakes.shopify_fake import product_node, variant_node
from tests.utils.api import BrandAccount, RecordingQueue
from tests.utils.webhooks import count, paid_body, paid_order_row, receipt, rows, tap


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


def _from_shopify(engine: Engine, item: Shoppable, *, packshot: str | None = None) -> None:
    """The item's product as Shopify's product 1 (optionally with a stored packshot at `packshot`)."""
    with Session(engine) as session:
        product = session.get(Product, item.product.id)
        assert product is not None
        product.shopify_product_gid = "gid://shopify/Product/1"
        session.add(product)
        if packshot is not None:
            session.add(ProductImage(product_id=product.id, brand_id=product.brand_id, path=packshot))
        session.commit()


def test_a_product_update_refetches_the_product_and_updates_the_timeline(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    # Given the hoodie came from Shopify and its price then changed there
    _from_shopify(engine, hoodie)
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


def test_a_product_renamed_in_shopify_relinks_its_placements_awaiting_review(
    world: World, hoodie: Shoppable, engine: Engine, job_queue: RecordingQueue
) -> None:
    # Given the hoodie came from Shopify with a packshot, and a placement awaiting review has it among
    # its candidates
    _from_shopify(engine, hoodie, packshot="/media/hoodie.png")
    make_placement(engine, hoodie.episode, candidates=[hoodie.product])
    world.shopify.products = [
        product_node(1, "Lead hoodie, night edition", [variant_node(11, price="49.90")])
    ]

    # When Shopify says it changed (a new title, a word its print may carry)
    response = shopify_delivery(
        world.client, {"id": 1, "admin_graphql_api_id": "gid://shopify/Product/1"}, topic="products/update"
    )

    # Then a link job over that product's placements awaiting review is stored and handed to the workers
    assert receipt(response)["outcome"] == "product gid://shopify/Product/1 updated"
    with Session(engine) as session:
        # (one job: it refreshes the index too, so no index-only job is queued beside it)
        (job,) = session.exec(select(LinkJob)).all()
        assert (job.product_id, job.linker_decided_only) == (hoodie.product.id, True)
    assert JobRef(JobKind.LINK, job.id) in job_queue.enqueued


def test_a_product_created_in_shopify_relinks_every_placement_awaiting_review(
    world: World, hoodie: Shoppable, engine: Engine, job_queue: RecordingQueue
) -> None:
    # Given a placement awaiting review that the catalog could not name
    make_placement(engine, hoodie.episode)
    world.shopify.products = [product_node(2, "Scarf", [variant_node(21, price="19.00", sku="SCARF")])]
    # When Shopify says a product with an image was created
    response = shopify_delivery(world.client, {"id": 2}, topic="products/create")
    assert receipt(response)["outcome"] == "product gid://shopify/Product/2 created"
    # Then the brand's placements awaiting review are all to be linked again, the new product among
    # the catalog (after the fetch of its image, which the job does first)
    with Session(engine) as session:
        (job,) = session.exec(select(LinkJob).where(LinkJob.index_only == False)).all()  # noqa: E712
        assert (job.product_id, job.linker_decided_only) == (None, True)
    assert JobRef(JobKind.LINK, job.id) in job_queue.enqueued


def test_a_product_create_for_an_unknown_product_adds_it_and_queues_its_images_for_indexing(
    world: World, hoodie: Shoppable, engine: Engine, job_queue: RecordingQueue
) -> None:
    world.shopify.products = [product_node(2, "Scarf", [variant_node(21, price="19.00", sku="SCARF")])]
    response = shopify_delivery(world.client, {"id": 2}, topic="products/create")
    assert receipt(response)["outcome"] == "product gid://shopify/Product/2 created"
    # Its image is a URL: an image-fetch job gets it, then queues the index-only link job.
    (refresh,) = job_queue.enqueued
    with Session(engine) as session:
        job = session.get(ImageFetchJob, refresh.id)
        assert job is not None
        assert (refresh.kind, job.brand_id, job.state) == (JobKind.IMAGES, hoodie.product.brand_id, "queued")
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
    _from_shopify(engine, item)

    response = shopify_delivery(world.client, {"id": 1}, topic="products/delete")

    assert receipt(response)["outcome"] == "product gid://shopify/Product/1 removed"
    assert count(engine, Product) == 0
    assert world.client.get(f"/v1/episodes/{item.episode.id}/timeline").json()["placements"] == []


def _from_shopify_beside_a_scarf(engine: Engine, hoodie: Shoppable) -> Product:
    """The hoodie as Shopify brought it, with a packshot, and a scarf with a packshot of its own."""
    _from_shopify(engine, hoodie, packshot="/media/hoodie.png")
    scarf, _ = make_product(engine, hoodie.product.brand_id, "Lead scarf", sku="SCARF")
    with Session(engine) as session:
        session.add(ProductImage(product_id=scarf.id, brand_id=scarf.brand_id, path="/media/scarf.png"))
        session.commit()
    return scarf


def test_a_product_deleted_in_shopify_says_so_in_its_hotspots_history_and_relinks_what_named_it(
    world: World, hoodie: Shoppable, engine: Engine, job_queue: RecordingQueue
) -> None:
    # Given the hoodie came from Shopify with a packshot, another product with one too, and a hotspot
    # the linker approved as the hoodie
    scarf = _from_shopify_beside_a_scarf(engine, hoodie)
    shown = make_placement(
        engine,
        hoodie.episode,
        candidates=[hoodie.product, scarf],
        status=PlacementStatus.APPROVED,
        chosen_product_id=hoodie.product.id,
        approved_by_linker=True,
    )

    # When Shopify says the hoodie was deleted
    response = shopify_delivery(world.client, {"id": 1}, topic="products/delete")

    # Then the hotspot is back in review with an entry saying why, and its placements are to be linked
    # again without the hoodie
    assert receipt(response)["outcome"] == "product gid://shopify/Product/1 removed"
    with Session(engine) as session:
        actions = session.exec(select(ReviewAction).where(ReviewAction.placement_id == shown.id)).all()
        assert [(action.actor, action.action) for action in actions] == [("catalog sync", "product-deleted")]
        assert (actions[0].before["status"], actions[0].after["status"]) == ("approved", "proposed")
        # (one job: it refreshes the index too, so no index-only job is queued beside it)
        (job,) = session.exec(select(LinkJob)).all()
        assert (job.product_id, job.linker_decided_only) == (hoodie.product.id, True)
    assert JobRef(JobKind.LINK, job.id) in job_queue.enqueued


def test_a_product_deleted_in_shopify_that_no_placement_names_is_taken_out_of_the_index(
    world: World, hoodie: Shoppable, engine: Engine, job_queue: RecordingQueue
) -> None:
    # Given the hoodie came from Shopify with a packshot beside another product's, and no link names it
    _from_shopify_beside_a_scarf(engine, hoodie)

    # When Shopify says the hoodie was deleted
    response = shopify_delivery(world.client, {"id": 1}, topic="products/delete")

    # Then nothing is to be linked again, but the index is refreshed without it (before, it kept the
    # hoodie until some later change, and a settings preview took the stale index for the current one)
    assert receipt(response)["outcome"] == "product gid://shopify/Product/1 removed"
    with Session(engine) as session:
        (job,) = session.exec(select(LinkJob)).all()
        assert (job.index_only, job.product_id) == (True, None)
    assert JobRef(JobKind.LINK, job.id) in job_queue.enqueued


def test_a_sold_product_deleted_in_shopify_is_retired_and_queues_no_index_refresh(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given the hoodie came from Shopify with a packshot and a shopper started a checkout for it
    _from_shopify(engine, hoodie, packshot="/media/hoodie.png")
    started = world.client.post("/v1/checkout", json=hoodie.checkout_body())
    assert started.status_code == 201, started.text

    # When Shopify says it was deleted
    response = shopify_delivery(world.client, {"id": 1}, topic="products/delete")

    # Then it is retired (its checkouts refer to it), keeps its images, and nothing is queued to index
    assert receipt(response)["outcome"] == "product gid://shopify/Product/1 removed"
    product = world.client.get(f"/v1/products/{hoodie.product.id}", headers=brand.headers).json()
    assert [variant["available"] for variant in product["variants"]] == [False]
    with Session(engine) as session:
        assert session.exec(select(LinkJob)).all() == []


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
    # Given player events: 4 impressions and 3 taps (4 viewers, 3 of them tapping: an impression and a
    # tap count once per viewer)
    def event(kind: str) -> dict[str, str]:
        return {"type": kind, "episode_id": str(hoodie.episode.id), "placement_id": str(hoodie.placement.id)}

    for viewer in range(4):
        seen = [event("hotspot_impression")] + [event("hotspot_tap")] * (1 if viewer < 3 else 0)
        posted = world.client.post(
            "/v1/events", json={"events": seen}, headers={"User-Agent": f"player/{viewer}"}
        )
        assert (posted.status_code, posted.json()["accepted"]) == (202, len(seen))
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
        key: placement[key]
        for key in ("impressions", "taps", "checkouts_opened", "orders_paid", "revenue", "conversion")
    } == {
        "impressions": 4,
        "taps": 3,
        "checkouts_opened": 3,
        "orders_paid": 2,
        "revenue": {"EUR": "179.70"},
        "conversion": round(2 / 3, 4),
    }
    with Session(engine) as session:
        paid_orders = session.exec(select(Order).where(Order.status == "paid")).all()
        assert len(paid_orders) == report["orders_paid"] == 2
        assert sum(order.amount for order in paid_orders) == Decimal(report["revenue"]["EUR"])
        assert (
            session.exec(select(func.count()).select_from(CheckoutSession)).one()
            == report["checkouts_opened"]
        )


def test_concurrent_shopify_deliveries_of_one_order_under_different_event_ids_count_once(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    skip_unless_postgres(engine)
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
    return {key: placement[key] for key in ("checkouts_opened", "orders_paid", "revenue")}


def test_a_pending_shopify_order_counts_once_when_orders_paid_arrives(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given a Shopify order stored as pending at orders/create
    tapped = tap(world, hoodie, provider="shopify", quantity=2)
    order = pending_order(world, 80)
    shopify_delivery(world.client, order, topic="orders/create", event_id="e-80-create")
    assert funnel(world, hoodie, brand) == {"checkouts_opened": 1, "orders_paid": 0, "revenue": {}}

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
    assert funnel(world, hoodie, brand) == {
        "checkouts_opened": 1,
        "orders_paid": 1,
        "revenue": {"EUR": "119.80"},
    }


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
    assert funnel(world, hoodie, brand) == {
        "checkouts_opened": 1,
        "orders_paid": 1,
        "revenue": {"EUR": "59.90"},
    }


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

    # Then the order is cancelled and uncounted
    (stored,) = rows(engine, Order)
    assert receipt(cancel)["outcome"] == f"order {stored.id} is cancelled"
    assert receipt(stale)["outcome"] == f"order {stored.id} stays cancelled"
    assert stored.status == "cancelled"
    assert funnel(world, hoodie, brand) == {"checkouts_opened": 1, "orders_paid": 0, "revenue": {}}


def test_a_cancel_delivered_before_its_order_records_it_cancelled_and_the_late_topics_leave_it_so(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given a paid order whose orders/create and orders/paid deliveries failed, and the merchant cancelled
    tap(world, hoodie, provider="shopify")
    order = pending_order(world, 83) | {"financial_status": "paid"}
    cancelled = order | {"financial_status": "refunded", "cancelled_at": "2026-11-24T18:00:00Z"}

    # When orders/cancelled arrives first, then Shopify's retries of orders/create and orders/paid,
    # carrying the order as it was then (paid, not cancelled)
    cancel = shopify_delivery(world.client, cancelled, topic="orders/cancelled", event_id="e-83-cancel")
    late_create = shopify_delivery(world.client, order, topic="orders/create", event_id="e-83-create")
    late_paid = shopify_delivery(world.client, order, topic="orders/paid", event_id="e-83-paid")

    # Then the order is recorded once, from the cancel's note_attributes, cancelled and never counted
    (stored,) = rows(engine, Order)
    assert receipt(cancel)["outcome"] == f"order {stored.id} recorded (cancelled, 59.90 EUR)"
    assert receipt(late_create)["outcome"] == f"already recorded as order {stored.id}"
    assert receipt(late_paid)["outcome"] == f"order {stored.id} stays cancelled"
    assert (stored.status, stored.placement_id, stored.provider_event_id) == (
        "cancelled",
        hoodie.placement.id,
        "e-83-cancel",
    )
    assert [row.status for row in rows(engine, CheckoutSession)] == ["open"]
    assert funnel(world, hoodie, brand) == {"checkouts_opened": 1, "orders_paid": 0, "revenue": {}}


def test_a_cancel_for_an_unrecorded_order_not_attributed_to_this_brand_is_ignored(
    world: World, hoodie: Shoppable, engine: Engine, settings: ApiSettings, other_brand: BrandAccount
) -> None:
    # Given cancels of orders never recorded: one without ReelCart's cart attributes, one naming only
    # another brand's placement
    theirs = make_shoppable(engine, settings, other_brand, sku="RIVAL-1")
    cancelled_at = {"cancelled_at": "2026-11-24T18:00:00Z", "total_price": "59.90", "currency": "EUR"}
    unattributed = {"id": 94, "name": "#1094", "note_attributes": []} | cancelled_at
    forged = {
        "id": 95,
        "name": "#1095",
        "note_attributes": [
            {"name": "reelcart_click_id", "value": "click-forged"},
            {"name": "reelcart_placement_id", "value": str(theirs.placement.id)},
            {"name": "reelcart_episode_id", "value": str(theirs.episode.id)},
        ],
    } | cancelled_at

    # When they arrive
    answers = [
        shopify_delivery(world.client, body, topic="orders/cancelled") for body in (unattributed, forged)
    ]

    # Then both are acknowledged, and nothing is recorded (for this brand or the other)
    assert [receipt(answer)["outcome"] for answer in answers] == [
        "ignored: order #1094 has no ReelCart attribution",
        "ignored: order #1095 names no placement of this brand",
    ]
    assert count(engine, Order) == 0
    assert count(engine, ProcessedWebhook) == 2


def test_a_shopify_test_order_is_acknowledged_but_never_recorded_or_counted(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given a brand trying its hotspot with Shopify's test gateway: a paid order marked "test"
    tap(world, hoodie, provider="shopify")
    order = pending_order(world, 96) | {"test": True}
    paid = order | {"financial_status": "paid"}
    cancelled = paid | {"cancelled_at": "2026-11-24T18:00:00Z"}

    # When every order topic about it arrives (pending create, paid, cancel; and a paid create)
    answers = [
        shopify_delivery(world.client, order, topic="orders/create"),
        shopify_delivery(world.client, paid, topic="orders/paid"),
        shopify_delivery(world.client, cancelled, topic="orders/cancelled"),
        shopify_delivery(world.client, paid, topic="orders/create"),
    ]

    # Then each is acknowledged (so Shopify does not retry) as a test order; no order, no sale
    assert [receipt(answer)["outcome"] for answer in answers] == [
        "ignored: order #1096 is a Shopify test order, not a sale"
    ] * 4
    assert (count(engine, Order), count(engine, ProcessedWebhook)) == (0, 4)
    assert [row.status for row in rows(engine, CheckoutSession)] == ["open"]
    assert funnel(world, hoodie, brand) == {"checkouts_opened": 1, "orders_paid": 0, "revenue": {}}


def test_a_captured_order_body_resent_under_another_topic_changes_nothing(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given a pending order recorded from a genuine orders/create, whose signed body an attacker captured
    tap(world, hoodie, provider="shopify")
    order = pending_order(world, 86)
    shopify_delivery(world.client, order, topic="orders/create", event_id="e-86-create")

    # When the same signed body is re-sent as orders/cancelled and as orders/paid, with new event ids
    as_cancel = shopify_delivery(world.client, order, topic="orders/cancelled", event_id="e-86-forged-1")
    as_paid = shopify_delivery(world.client, order, topic="orders/paid", event_id="e-86-forged-2")

    # Then both are refused as payloads that do not match their topic, and the order is still pending
    for answer, topic, why in [
        (as_cancel, "orders/cancelled", "has no cancelled_at"),
        (as_paid, "orders/paid", "says financial_status 'pending'"),
    ]:
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("invalid-webhook-payload")
        assert topic in answer.json()["detail"]
        assert why in answer.json()["detail"]
    assert [row.status for row in rows(engine, Order)] == ["pending"]
    assert count(engine, ProcessedWebhook) == 1
    assert funnel(world, hoodie, brand) == {"checkouts_opened": 1, "orders_paid": 0, "revenue": {}}


@pytest.mark.parametrize(
    ("triggered_at", "why"),
    [
        ("stale", "s ago, older than the 90000 s limit"),
        ("future", "s in the future, beyond the 300 s clock tolerance"),
        ("", "missing X-Shopify-Triggered-At header"),
        ("yesterday", "X-Shopify-Triggered-At is not an ISO 8601 timestamp"),
    ],
)
def test_a_delivery_triggered_outside_the_tolerance_is_400_and_changes_nothing(
    world: World, hoodie: Shoppable, engine: Engine, triggered_at: str, why: str
) -> None:
    # Given a genuinely signed order, delivered with a trigger time out of bounds (or none)
    tap(world, hoodie, provider="shopify")
    order = pending_order(world, 87) | {"financial_status": "paid"}
    # Well past each bound: the time the request takes moves a future stamp toward the tolerance (a
    # stamp 301 s ahead was accepted once on a loaded CI machine). The exact bounds are tested with a
    # fixed clock in tests/commerce/test_shopify_webhooks.py.
    moments = {
        "stale": datetime.now(UTC) - timedelta(hours=25, minutes=10),
        "future": datetime.now(UTC) + timedelta(minutes=10),
    }
    header = moments[triggered_at].isoformat() if triggered_at in moments else triggered_at

    # When it arrives
    response = shopify_delivery(world.client, order, topic="orders/create", triggered_at=header)

    # Then it is a clear 400, and nothing is stored (not even the event id, so a fresh one still works)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert why in response.json()["detail"]
    assert (count(engine, Order), count(engine, ProcessedWebhook)) == (0, 0)
    fresh = shopify_delivery(world.client, order, topic="orders/create")
    assert receipt(fresh)["handled"] is True


def test_shopifys_last_retry_four_hours_after_the_trigger_still_records_the_order(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    # Given an order whose deliveries failed during an outage: Shopify retries for 4 hours, every
    # retry stamped with the original trigger time
    tap(world, hoodie, provider="shopify")
    order = pending_order(world, 88) | {"financial_status": "paid"}
    first_triggered = (datetime.now(UTC) - timedelta(hours=4, minutes=10)).isoformat()

    # When the last retry arrives
    response = shopify_delivery(world.client, order, topic="orders/create", triggered_at=first_triggered)

    # Then the order is recorded, not refused as stale
    assert receipt(response)["handled"] is True
    assert count(engine, Order) == 1


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


def deliver_at_once(world: World, deliveries: list[tuple[str, dict[str, Any], str]]) -> list[Response]:
    """Each (topic, body, event id) delivered from its own thread, all at once, as Shopify's
    subscriptions and retries after an outage deliver them."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(
            pool.map(
                lambda item: shopify_delivery(world.client, item[1], topic=item[0], event_id=item[2]),
                deliveries,
            )
        )


def test_concurrent_orders_create_and_orders_paid_for_one_order_count_once(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    skip_unless_postgres(engine)
    # Given one order whose create (pending) and paid deliveries, each from two subscriptions, race
    tap(world, hoodie, provider="shopify")
    pending = pending_order(world, 85)
    deliveries = [("orders/create", pending, f"e-85-create-{n}") for n in range(3)] + [
        ("orders/paid", pending | {"financial_status": "paid"}, f"e-85-paid-{n}") for n in range(3)
    ]

    # When all six (plus a duplicate of each) arrive at once
    responses = deliver_at_once(world, deliveries * 2)

    # Then everything is acknowledged, six events were processed, and one paid order is counted
    assert [response.status_code for response in responses] == [200] * 12
    assert (count(engine, Order), count(engine, ProcessedWebhook)) == (1, 6)
    assert [row.status for row in rows(engine, Order)] == ["paid"]
    assert funnel(world, hoodie, brand) == {
        "checkouts_opened": 1,
        "orders_paid": 1,
        "revenue": {"EUR": "59.90"},
    }


def test_concurrent_cancel_create_and_paid_for_one_order_leave_it_cancelled(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    skip_unless_postgres(engine)
    # Given a cancelled order whose three topics, each from two subscriptions, Shopify delivers at
    # once after an outage (in no order: create and paid carry the order before it was cancelled)
    tap(world, hoodie, provider="shopify")
    paid = pending_order(world, 97) | {"financial_status": "paid"}
    cancelled = paid | {"cancelled_at": "2026-11-24T18:00:00Z"}
    deliveries = [
        (topic, body, f"e-97-{topic}-{n}")
        for topic, body in [("orders/cancelled", cancelled), ("orders/create", paid), ("orders/paid", paid)]
        for n in range(2)
    ]

    # When all six (plus a duplicate of each) race
    responses = deliver_at_once(world, deliveries * 2)

    # Then all are acknowledged, and whichever came first, one cancelled order is stored, uncounted
    assert [response.status_code for response in responses] == [200] * 12
    assert (count(engine, Order), count(engine, ProcessedWebhook)) == (1, 6)
    assert [row.status for row in rows(engine, Order)] == ["cancelled"]
    assert funnel(world, hoodie, brand) == {"checkouts_opened": 1, "orders_paid": 0, "revenue": {}}
