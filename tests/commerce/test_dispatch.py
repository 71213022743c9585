"""Webhook dispatch: a dict of handlers keyed by event class; unknown types are acknowledged, ignored."""

from __future__ import annotations

from decimal import Decimal

from commerce.events import ShopifyAppUninstalled, ShopifyOrderCreated, UnhandledEvent
from commerce.money import Money
from commerce.webhooks import DispatchResult, WebhookDispatcher

ORDER = ShopifyOrderCreated(
    event_id="evt-1",
    shop_domain="drama-merch.myshopify.com",
    order_id="gid://shopify/Order/1",
    order_name="#1001",
    total=Money(Decimal("10.00"), "EUR"),
    financial_status="paid",
    attribution=None,
    created_at=None,
    test=False,
)


def test_events_reach_their_handler_and_others_are_ignored() -> None:
    # Given a dispatcher that records orders only
    recorded: list[str] = []
    dispatcher: WebhookDispatcher[str] = WebhookDispatcher()

    def record(event: ShopifyOrderCreated) -> str:
        recorded.append(event.order_id)
        return "order recorded"

    dispatcher.on(ShopifyOrderCreated, record)

    # When an order, an uninstall (no handler) and an unknown topic arrive
    results = [
        dispatcher.dispatch(ORDER),
        dispatcher.dispatch(ShopifyAppUninstalled("evt-2", "drama-merch.myshopify.com")),
        dispatcher.dispatch(UnhandledEvent("stripe", "evt_3", "customer.created")),
    ]

    # Then
    assert results == [
        DispatchResult("shopify", "evt-1", "orders/create", handled=True, outcome="order recorded"),
        DispatchResult("shopify", "evt-2", "app/uninstalled", handled=False),
        DispatchResult("stripe", "evt_3", "customer.created", handled=False),
    ]
    assert recorded == ["gid://shopify/Order/1"]
