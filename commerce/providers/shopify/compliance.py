"""Shopify's mandatory compliance webhooks (customers/data_request, customers/redact, shop/redact):
their bodies, parsed into typed events. They are verified like every other topic (the body's HMAC)
before they reach this module."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from commerce.events import ShopifyCustomerDataRequest, ShopifyCustomerRedact, ShopifyShopRedact
from commerce.exceptions import WebhookPayloadError

PROVIDER = "shopify"

COMPLIANCE_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _ShopPayload(_Payload):
    # The signed body names the shop; the X-Shopify-Shop-Domain header is not covered by the HMAC.
    shop_domain: str
    customer: dict[str, object] | None = None


class _Customer(_Payload):
    # Shopify also sends the shopper's email and phone; ReelCart never reads (or stores) them.
    id: int


class _DataRequest(_Payload):
    id: int


class _CustomerDataRequest(_Payload):
    customer: _Customer
    orders_requested: list[int]
    data_request: _DataRequest | None = None


class _CustomerRedact(_Payload):
    customer: _Customer
    orders_to_redact: list[int]


def _order_gid(order_id: int) -> str:
    return f"gid://shopify/Order/{order_id}"


def _customer_gid(customer_id: int) -> str:
    return f"gid://shopify/Customer/{customer_id}"


def compliance_event(
    topic: str, shop: str, event_id: str, raw_body: bytes
) -> ShopifyCustomerDataRequest | ShopifyCustomerRedact | ShopifyShopRedact:
    """The typed event for one of `COMPLIANCE_TOPICS`; pydantic's ValidationError for a bad body,
    `WebhookPayloadError` when the signed body contradicts the unsigned headers.

    Only the body is signed, so the shop it names must be the header's (a captured body re-sent with
    another shop's header erases nothing), and a body about a customer is never a shop/redact.
    """
    named = _ShopPayload.model_validate_json(raw_body)
    if named.shop_domain.strip().lower() != shop.strip().lower():
        raise WebhookPayloadError(
            PROVIDER, f"{topic} body names shop {named.shop_domain!r}, the header {shop!r}"
        )
    shop = named.shop_domain.strip().lower()
    if topic == "customers/data_request":
        request = _CustomerDataRequest.model_validate_json(raw_body)
        return ShopifyCustomerDataRequest(
            event_id=event_id,
            shop_domain=shop,
            customer_id=_customer_gid(request.customer.id),
            order_ids=tuple(_order_gid(order) for order in request.orders_requested),
            request_id=str(request.data_request.id) if request.data_request else None,
        )
    if topic == "customers/redact":
        redact = _CustomerRedact.model_validate_json(raw_body)
        return ShopifyCustomerRedact(
            event_id=event_id,
            shop_domain=shop,
            customer_id=_customer_gid(redact.customer.id),
            order_ids=tuple(_order_gid(order) for order in redact.orders_to_redact),
        )
    if topic == "shop/redact":
        if named.customer is not None:
            raise WebhookPayloadError(PROVIDER, "shop/redact body is about a customer, not the shop")
        return ShopifyShopRedact(event_id=event_id, shop_domain=shop)
    raise ValueError(f"not a compliance topic: {topic}")
