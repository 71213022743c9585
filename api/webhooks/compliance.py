"""Shopify's mandatory compliance topics, answered from what ReelCart actually stores about shoppers.

What ReelCart stores about a shopper (README, "What ReelCart stores about shoppers"): no name, email,
phone, address, IP address or user agent. A tap leaves a player-made click id (random per Buy press)
on its checkout session and on the player's events; a Shopify order leaves its order id, amount,
currency, status, amount refunded, time and the placement and episode it is attributed to. The
shopper IP forwarded to Shopify's Storefront API is never written down.

- customers/data_request: the receipt says what is stored for the named orders.
- customers/redact: the click ids of those orders' checkouts (and the events carrying them) are
  replaced by random ones, so nothing ties the order back to the player session that made it; the
  counts and revenue the brand's analytics show are unchanged.
- shop/redact: the shop's tokens and its binding to the brand are removed.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session, col, select

from api.analytics.models import Event
from api.brands.models import Brand, CheckoutProviderName
from api.brands.service import find_brand_by_shop
from api.checkout.models import CheckoutSession, Order
from api.webhooks.held_refunds import forget_reported_by
from commerce.events import ShopifyCustomerDataRequest, ShopifyCustomerRedact, ShopifyShopRedact
from commerce.money import Money

STORED_PER_ORDER = (
    "order id, amount, currency, status, amount refunded, time, attributed placement and episode, "
    "the tap's click id"
)
NEVER_STORED = "no name, email, phone, address or IP"


def _orders(session: Session, brand: Brand, order_ids: tuple[str, ...]) -> list[Order]:
    if not order_ids:
        return []
    return list(
        session.exec(
            select(Order)
            .where(
                Order.brand_id == brand.id,
                Order.provider == CheckoutProviderName.SHOPIFY,
                col(Order.provider_order_id).in_(order_ids),
            )
            .order_by(col(Order.created_at), col(Order.id))
        ).all()
    )


def customer_data_request(session: Session, event: ShopifyCustomerDataRequest) -> str:
    brand = find_brand_by_shop(session, event.shop_domain)
    if brand is None:
        return f"customer {event.customer_id}: nothing stored (shop {event.shop_domain} is not connected)"
    orders = _orders(session, brand, event.order_ids)
    if not orders:
        return f"customer {event.customer_id}: nothing stored for the {len(event.order_ids)} orders named"
    described = "; ".join(
        f"{order.provider_order_id} {Money(order.amount.normalize(), order.currency)} {order.status} "
        + (
            f"({Money(order.refunded_amount.normalize(), order.currency)} refunded) "
            if order.refunded_amount
            else ""
        )
        + f"{order.created_at.isoformat()} placement {order.placement_id}"
        for order in orders
    )
    return (
        f"customer {event.customer_id}: {len(orders)} of {len(event.order_ids)} orders stored "
        f"({STORED_PER_ORDER}; {NEVER_STORED}): {described}"
    )


def redact_customer(session: Session, event: ShopifyCustomerRedact) -> str:
    brand = find_brand_by_shop(session, event.shop_domain)
    if brand is None:
        return f"customer {event.customer_id}: nothing stored (shop {event.shop_domain} is not connected)"
    orders = _orders(session, brand, event.order_ids)
    checkout_ids = [order.checkout_session_id for order in orders if order.checkout_session_id]
    redacted = 0
    for checkout in session.exec(
        select(CheckoutSession).where(
            col(CheckoutSession.id).in_(checkout_ids), CheckoutSession.brand_id == brand.id
        )
    ).all():
        if checkout.click_id.startswith("redacted-"):
            continue
        # Random, not derived: nothing maps it back. The same replacement on the events keeps a
        # tap's funnel (tap, checkout started, order) counted once, as before.
        replacement = f"redacted-{uuid.uuid4().hex}"
        for row in session.exec(
            select(Event).where(Event.brand_id == brand.id, Event.click_id == checkout.click_id)
        ).all():
            row.click_id = replacement
            session.add(row)
        checkout.click_id = replacement
        session.add(checkout)
        redacted += 1
    session.flush()
    return (
        f"customer {event.customer_id}: {len(orders)} of {len(event.order_ids)} orders stored, "
        f"{redacted} click ids redacted ({NEVER_STORED} is stored)"
    )


def redact_shop(session: Session, event: ShopifyShopRedact) -> str:
    # Refunds it reported of orders never recorded go, bound to a brand or not.
    forgotten = forget_reported_by(session, CheckoutProviderName.SHOPIFY, event.shop_domain)
    brand = find_brand_by_shop(session, event.shop_domain)
    if brand is None:
        return f"shop {event.shop_domain}: nothing stored" + (
            f" but {forgotten} held refund(s), now deleted" if forgotten else ""
        )
    brand.shopify_shop_domain = None
    brand.shopify_access_token_encrypted = None
    brand.shopify_storefront_token_encrypted = None
    session.add(brand)
    session.flush()
    return f"shop {event.shop_domain} redacted: its tokens and its binding to brand {brand.slug} removed"
