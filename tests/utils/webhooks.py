"""Webhook test helpers: a tap through the API, stored rows, receipts, the expected paid order."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from httpx import Response
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from tests.api.commerce_support import (
    ACCOUNT,
    Shoppable,
    World,
)
from tests.commerce.fakes.stripe_fake import payment_intent_of
from tests.utils.api import BrandAccount


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
    attributed to the tap's checkout, placement, episode and brand, nothing refunded; a Stripe one
    knows its PaymentIntent (the fake's for the session)."""
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
        "refunded_amount": Decimal("0.000"),
        "provider_payment_id": payment_intent_of(order_id) if provider == "stripe" else None,
        "refunds_reset_at": None,
    }
