"""Shopify webhooks: verify `X-Shopify-Hmac-Sha256` over the raw body, then parse into typed events."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypedDict

from pydantic import BaseModel, ConfigDict, ValidationError

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
    WebhookEvent,
)
from commerce.exceptions import MoneyError, WebhookPayloadError, WebhookSignatureError
from commerce.money import Money
from commerce.providers.shopify.compliance import COMPLIANCE_TOPICS, compliance_event
from commerce.settings import CommerceSettings

PROVIDER = "shopify"

# Financial statuses that mean the money is the brand's (captured, or authorized to capture): what an
# `orders/paid` body must say, since the topic header is not covered by the HMAC.
SHOPIFY_PAID_STATUSES = frozenset({"paid", "partially_paid", "authorized"})


def shopify_hmac(raw_body: bytes, secret: str) -> str:
    """Base64 HMAC-SHA256 of the body, as Shopify puts in `X-Shopify-Hmac-Sha256`."""
    digest = hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_shopify_hmac(raw_body: bytes, hmac_header: str | None, secret: str) -> None:
    if not secret:
        raise WebhookSignatureError(PROVIDER, "app secret is not configured")
    if not hmac_header:
        raise WebhookSignatureError(PROVIDER, "missing X-Shopify-Hmac-Sha256 header")
    expected = shopify_hmac(raw_body, secret).encode()
    # Constant-time: a byte-by-byte compare would let a forger learn the digest one byte at a time.
    if not hmac.compare_digest(expected, hmac_header.strip().encode()):
        raise WebhookSignatureError(PROVIDER, "HMAC does not match the body")


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _NoteAttribute(_Payload):
    name: str
    value: str | None = None


class _OrderPayload(_Payload):
    id: int
    admin_graphql_api_id: str | None = None
    name: str
    total_price: Decimal
    currency: str
    financial_status: str | None = None
    note_attributes: list[_NoteAttribute] = []
    created_at: datetime | None = None
    test: bool = False  # placed through a test gateway or a provider in test mode: no money moved
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None


class _RefundPayload(_Payload):
    id: int
    order_id: int
    admin_graphql_api_id: str | None = None


class _ProductPayload(_Payload):
    id: int
    admin_graphql_api_id: str | None = None


def verify_and_parse_shopify(
    raw_body: bytes, headers: Mapping[str, str], settings: CommerceSettings, *, now: datetime | None = None
) -> WebhookEvent:
    """Verify first, then read the routing headers, then the body. `headers` may use any case.

    Shopify signs only the body: the topic, event id and `X-Shopify-Triggered-At` headers are not
    covered. So a delivery older than `shopify_webhook_max_age_s` (by `X-Shopify-Triggered-At`, which
    retries keep from the first attempt) or stamped in the future by more than the clock tolerance is
    refused, replays are caught by the unique event id the API stores, and what an order event
    changes is confirmed by the signed body (`orders/cancelled` needs its `cancelled_at`,
    `orders/paid` a paid `financial_status`): a captured body re-sent under another topic changes
    nothing.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    verify_shopify_hmac(
        raw_body, lowered.get("x-shopify-hmac-sha256"), settings.shopify_api_secret.get_secret_value()
    )
    _check_fresh(
        lowered.get("x-shopify-triggered-at"),
        max_age_s=settings.shopify_webhook_max_age_s,
        clock_skew_s=settings.webhook_tolerance_s,
        now=now or datetime.now(UTC),
    )
    topic = lowered.get("x-shopify-topic", "")
    shop = lowered.get("x-shopify-shop-domain", "")
    # X-Shopify-Event-Id is the same across retries and across subscriptions of one event; older
    # deliveries only carry X-Shopify-Webhook-Id, which is at least stable across retries.
    event_id = lowered.get("x-shopify-event-id") or lowered.get("x-shopify-webhook-id")
    if not topic or not shop or not event_id:
        raise WebhookPayloadError(PROVIDER, "missing X-Shopify-Topic, -Shop-Domain or -Event-Id header")
    try:
        return _parse(topic, shop, event_id, raw_body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise WebhookPayloadError(PROVIDER, f"{topic} payload invalid at {where}: {first['msg']}") from None


def _check_fresh(triggered_at: str | None, *, max_age_s: int, clock_skew_s: int, now: datetime) -> None:
    """Refuse a delivery triggered more than `max_age_s` ago, or more than `clock_skew_s` in the future
    (a clock that far off is untrustworthy). Every retry carries the event's original trigger time, so
    the age limit must outlast Shopify's 4-hour retry schedule."""
    if not triggered_at:
        raise WebhookPayloadError(PROVIDER, "missing X-Shopify-Triggered-At header")
    try:
        moment = datetime.fromisoformat(triggered_at.strip().replace("Z", "+00:00"))
    except ValueError:
        raise WebhookPayloadError(PROVIDER, "X-Shopify-Triggered-At is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    age = (now - moment).total_seconds()
    if age > max_age_s:
        raise WebhookSignatureError(
            PROVIDER,
            f"X-Shopify-Triggered-At is {age:.0f} s ago, older than the {max_age_s} s limit "
            "(stale or replayed delivery)",
        )
    if -age > clock_skew_s:
        raise WebhookSignatureError(
            PROVIDER,
            f"X-Shopify-Triggered-At is {-age:.0f} s in the future, beyond the {clock_skew_s} s "
            "clock tolerance",
        )


def _parse(topic: str, shop: str, event_id: str, raw_body: bytes) -> WebhookEvent:
    if topic in _ORDER_TOPICS:
        return _order_event(topic, shop, event_id, _OrderPayload.model_validate_json(raw_body))
    if topic in {member.value for member in ShopifyProductTopic}:
        product = _ProductPayload.model_validate_json(raw_body)
        return ShopifyProductChanged(
            event_id=event_id,
            shop_domain=shop,
            topic=ShopifyProductTopic(topic),
            product_id=product.admin_graphql_api_id or f"gid://shopify/Product/{product.id}",
        )
    if topic == ShopifyRefundCreated.event_type:
        refund = _RefundPayload.model_validate_json(raw_body)
        return ShopifyRefundCreated(
            event_id=event_id,
            shop_domain=shop,
            order_id=f"gid://shopify/Order/{refund.order_id}",
            refund_id=refund.admin_graphql_api_id or f"gid://shopify/Refund/{refund.id}",
        )
    if topic == "app/uninstalled":
        return ShopifyAppUninstalled(event_id=event_id, shop_domain=shop)
    if topic in COMPLIANCE_TOPICS:
        return compliance_event(topic, shop, event_id, raw_body)
    return UnhandledEvent(PROVIDER, event_id, topic)


_ORDER_TOPICS = frozenset({"orders/create", "orders/paid", "orders/cancelled"})


class _OrderFields(TypedDict):
    event_id: str
    shop_domain: str
    order_id: str
    order_name: str
    total: Money
    financial_status: str | None
    attribution: Attribution | None
    created_at: datetime | None
    test: bool


def _order_event(topic: str, shop: str, event_id: str, order: _OrderPayload) -> WebhookEvent:
    pairs = {item.name: item.value for item in order.note_attributes if item.value is not None}
    try:
        total = Money(order.total_price, order.currency)
    except MoneyError as error:
        raise WebhookPayloadError(PROVIDER, f"order {order.id}: {error}") from None
    common: _OrderFields = {
        "event_id": event_id,
        "shop_domain": shop,
        "order_id": order.admin_graphql_api_id or f"gid://shopify/Order/{order.id}",
        "order_name": order.name,
        "total": total,
        "financial_status": order.financial_status,
        "attribution": Attribution.from_pairs(pairs),
        "created_at": order.created_at,
        "test": order.test,
    }
    if topic == "orders/paid":
        if order.financial_status not in SHOPIFY_PAID_STATUSES:
            raise WebhookPayloadError(
                PROVIDER,
                f"orders/paid delivery for order {order.id} whose signed body says financial_status "
                f"{order.financial_status!r}, not paid: the topic header does not match the order",
            )
        return ShopifyOrderPaid(**common)
    if topic == "orders/cancelled":
        if order.cancelled_at is None:
            raise WebhookPayloadError(
                PROVIDER,
                f"orders/cancelled delivery for order {order.id} whose signed body has no cancelled_at: "
                "the topic header does not match the order",
            )
        return ShopifyOrderCancelled(
            **common, cancelled_at=order.cancelled_at, cancel_reason=order.cancel_reason
        )
    return ShopifyOrderCreated(**common)
