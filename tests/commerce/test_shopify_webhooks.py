"""Shopify webhooks: HMAC over the raw body (computed here independently), topics into typed events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from commerce.checkout import Attribution
from commerce.events import (
    ShopifyAppUninstalled,
    ShopifyOrderCancelled,
    ShopifyOrderCreated,
    ShopifyOrderPaid,
    ShopifyProductChanged,
    ShopifyProductTopic,
    ShopifyRefundCreated,
    UnhandledEvent,
)
from commerce.exceptions import WebhookPayloadError, WebhookSignatureError
from commerce.money import Money
from commerce.webhooks import verify_and_parse_shopify
from tests.utils.commerce import SHOPIFY_API_SECRET, make_settings

SHOP = "drama-merch.myshopify.com"
SETTINGS = make_settings()


def order_body(**changes: Any) -> bytes:
    order: dict[str, Any] = {
        "id": 450789469,
        "admin_graphql_api_id": "gid://shopify/Order/450789469",
        "name": "#1001",
        "total_price": "119.80",
        "currency": "EUR",
        "financial_status": "paid",
        "created_at": "2026-11-24T17:02:11+01:00",
        "test": False,
        "note_attributes": [
            {"name": "reelcart_click_id", "value": "click-7f3a"},
            {"name": "reelcart_placement_id", "value": "plc-42"},
            {"name": "reelcart_episode_id", "value": "ep-3"},
            {"name": "gift_note", "value": "for mum"},
        ],
        "line_items": [{"id": 1, "variant_id": 7, "quantity": 2, "price": "59.90"}],
        **changes,
    }
    return json.dumps(order).encode()


def headers_for(body: bytes, topic: str, *, secret: str = SHOPIFY_API_SECRET, **extra: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Event-Id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
        **extra,
    }


def test_an_order_with_cart_attributes_becomes_an_attributed_order() -> None:
    body = order_body()

    event = verify_and_parse_shopify(body, headers_for(body, "orders/create"), SETTINGS)

    assert event == ShopifyOrderCreated(
        event_id="98880550-7158-44d4-b7cd-2c97c8a091b5",
        shop_domain=SHOP,
        order_id="gid://shopify/Order/450789469",
        order_name="#1001",
        total=Money(Decimal("119.80"), "EUR"),
        financial_status="paid",
        attribution=Attribution(click_id="click-7f3a", placement_id="plc-42", episode_id="ep-3"),
        created_at=datetime(2026, 11, 24, 16, 2, 11, tzinfo=UTC),
        test=False,
    )


def test_an_order_from_elsewhere_has_no_attribution() -> None:
    body = order_body(note_attributes=[])

    event = verify_and_parse_shopify(body, headers_for(body, "orders/create"), SETTINGS)

    assert isinstance(event, ShopifyOrderCreated)
    assert event.attribution is None


@pytest.mark.parametrize(
    ("topic", "payload", "expected"),
    [
        (
            "products/update",
            {"id": 632910392, "admin_graphql_api_id": "gid://shopify/Product/632910392", "title": "Hoodie"},
            ShopifyProductChanged(
                "evt-1", SHOP, ShopifyProductTopic.UPDATE, "gid://shopify/Product/632910392"
            ),
        ),
        (
            "products/delete",
            {"id": 632910392},
            ShopifyProductChanged(
                "evt-1", SHOP, ShopifyProductTopic.DELETE, "gid://shopify/Product/632910392"
            ),
        ),
        ("app/uninstalled", {"id": 548380009, "name": "Drama Merch"}, ShopifyAppUninstalled("evt-1", SHOP)),
        (
            "refunds/create",
            {
                "id": 509562969,
                "order_id": 450789469,
                "transactions": [{"amount": "41.94", "currency": "USD"}],
            },
            ShopifyRefundCreated(
                "evt-1", SHOP, "gid://shopify/Order/450789469", "gid://shopify/Refund/509562969"
            ),
        ),
        ("customers/create", {"id": 1}, UnhandledEvent("shopify", "evt-1", "customers/create")),
    ],
)
def test_topics_map_to_typed_events(topic: str, payload: dict[str, Any], expected: object) -> None:
    body = json.dumps(payload).encode()

    event = verify_and_parse_shopify(
        body, headers_for(body, topic, **{"X-Shopify-Event-Id": "evt-1"}), SETTINGS
    )

    assert event == expected


def test_header_names_are_case_insensitive_and_webhook_id_is_the_fallback_dedupe_key() -> None:
    body = order_body()
    headers = {
        k.lower(): v for k, v in headers_for(body, "orders/create").items() if k != "X-Shopify-Event-Id"
    }

    event = verify_and_parse_shopify(body, headers, SETTINGS)

    assert event.event_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (
            lambda body, headers: (body, headers_for(body, "orders/create", secret="shpss_attacker")),
            "HMAC does not match the body",
        ),
        (lambda body, headers: (body.replace(b"119.80", b"0.01"), headers), "HMAC does not match the body"),
        (
            lambda body, headers: (body, {k: v for k, v in headers.items() if k != "X-Shopify-Hmac-Sha256"}),
            "missing X-Shopify-Hmac-Sha256 header",
        ),
        (
            lambda body, headers: (body, {**headers, "X-Shopify-Hmac-Sha256": "not base64 at all"}),
            "HMAC does not match the body",
        ),
    ],
    ids=["forged", "tampered", "missing", "garbage"],
)
def test_forged_or_tampered_deliveries_are_rejected(mutate: Any, reason: str) -> None:
    original = order_body()
    body, headers = mutate(original, headers_for(original, "orders/create"))

    with pytest.raises(WebhookSignatureError) as error:
        verify_and_parse_shopify(body, headers, SETTINGS)

    assert (error.value.provider, error.value.reason) == ("shopify", reason)
    assert "click-7f3a" not in str(error.value)


def test_a_replayed_delivery_keeps_its_event_id() -> None:
    body = order_body()
    headers = headers_for(body, "orders/create")

    first = verify_and_parse_shopify(body, headers, SETTINGS)
    again = verify_and_parse_shopify(body, headers, SETTINGS)

    assert first == again


def test_a_signed_order_with_a_bad_total_is_a_payload_error() -> None:
    body = order_body(total_price="a lot")

    with pytest.raises(WebhookPayloadError, match="orders/create payload invalid at total_price"):
        verify_and_parse_shopify(body, headers_for(body, "orders/create"), SETTINGS)


def test_missing_routing_headers_are_a_payload_error() -> None:
    body = order_body()
    headers = {k: v for k, v in headers_for(body, "orders/create").items() if k != "X-Shopify-Topic"}

    with pytest.raises(WebhookPayloadError):
        verify_and_parse_shopify(body, headers, SETTINGS)


def test_orders_paid_and_orders_cancelled_become_their_own_typed_events() -> None:
    # Given the same order delivered under the paid and the cancelled topics
    body = order_body()
    cancelled_body = order_body(
        financial_status="voided", cancelled_at="2026-11-24T18:00:00Z", cancel_reason="customer"
    )

    # When
    paid = verify_and_parse_shopify(body, headers_for(body, "orders/paid"), SETTINGS)
    cancelled = verify_and_parse_shopify(
        cancelled_body, headers_for(cancelled_body, "orders/cancelled"), SETTINGS
    )

    # Then each carries the order fields, and the cancellation its time and reason
    common: dict[str, Any] = {
        "event_id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
        "shop_domain": SHOP,
        "order_id": "gid://shopify/Order/450789469",
        "order_name": "#1001",
        "total": Money(Decimal("119.80"), "EUR"),
        "attribution": Attribution(click_id="click-7f3a", placement_id="plc-42", episode_id="ep-3"),
        "created_at": datetime(2026, 11, 24, 16, 2, 11, tzinfo=UTC),
        "test": False,
    }
    assert paid == ShopifyOrderPaid(financial_status="paid", **common)
    assert cancelled == ShopifyOrderCancelled(
        financial_status="voided",
        cancelled_at=datetime(2026, 11, 24, 18, 0, 0, tzinfo=UTC),
        cancel_reason="customer",
        **common,
    )
    assert (paid.event_type, cancelled.event_type) == ("orders/paid", "orders/cancelled")


def test_an_order_body_under_a_topic_it_does_not_match_is_a_payload_error() -> None:
    # Given a captured orders/create body of a pending, uncancelled order
    body = order_body(financial_status="pending")

    # When it is re-sent under the cancelled and paid topics (the HMAC covers the body, not the topic)
    # Then the signed body refutes both
    with pytest.raises(WebhookPayloadError, match=r"orders/cancelled .* has no cancelled_at"):
        verify_and_parse_shopify(body, headers_for(body, "orders/cancelled"), SETTINGS)
    with pytest.raises(WebhookPayloadError, match=r"orders/paid .* financial_status 'pending', not paid"):
        verify_and_parse_shopify(body, headers_for(body, "orders/paid"), SETTINGS)
    # While the body still reads as the order it is
    assert isinstance(
        verify_and_parse_shopify(body, headers_for(body, "orders/create"), SETTINGS), ShopifyOrderCreated
    )


@pytest.mark.parametrize(
    ("triggered_at", "error", "reason"),
    [
        ("2026-11-23T15:59:59+00:00", WebhookSignatureError, "90001 s ago, older than the 90000 s limit"),
        ("2026-11-24T17:05:01Z", WebhookSignatureError, "301 s in the future, beyond the 300 s clock"),
        ("24/11/2026", WebhookPayloadError, "not an ISO 8601 timestamp"),
    ],
)
def test_a_delivery_triggered_outside_the_tolerance_is_refused(
    triggered_at: str, error: type[Exception], reason: str
) -> None:
    body = order_body()
    now = datetime(2026, 11, 24, 17, 0, 0, tzinfo=UTC)
    headers = headers_for(body, "orders/create", **{"X-Shopify-Triggered-At": triggered_at})

    with pytest.raises(error, match=reason):
        verify_and_parse_shopify(body, headers, SETTINGS, now=now)

    # Shopify's last retry comes about 4 h after the trigger, stamped with the original trigger time:
    # it is accepted, as is a clock 299 s fast; one without the header is refused
    for inside_at in ("2026-11-24T12:45:00Z", "2026-11-23T16:00:01Z", "2026-11-24T17:04:59Z"):
        inside = headers_for(body, "orders/create", **{"X-Shopify-Triggered-At": inside_at})
        assert isinstance(verify_and_parse_shopify(body, inside, SETTINGS, now=now), ShopifyOrderCreated)
    missing = {k: v for k, v in inside.items() if k != "X-Shopify-Triggered-At"}
    with pytest.raises(WebhookPayloadError, match="missing X-Shopify-Triggered-At"):
        verify_and_parse_shopify(body, missing, SETTINGS, now=now)
