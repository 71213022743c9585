"""A failed Buy is visible to the brand: analytics count checkouts started, opened and failed (and why)
and orders paid, from what the player reported and what the checkout route itself recorded."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from api.analytics.models import Event
from api.brands.models import CheckoutProviderName
from api.checkout.models import CheckoutSession, Order
from api.settings import ApiSettings
from tests.api.commerce_support import Shoppable, World, connect_stripe, make_shoppable
from tests.commerce.fakes.stripe_fake import error_reply
from tests.utils.api import BrandAccount

FUNNEL = ("checkouts_started", "checkouts_opened", "checkouts_failed", "checkout_failures", "orders_paid")


def _started(world: World, item: Shoppable, *clicks: str) -> None:
    """What the overlay sends as Buy is pressed, before it posts the checkout."""
    events = [
        {
            "type": "checkout_started",
            "episode_id": str(item.episode.id),
            "placement_id": str(item.placement.id),
            "click_id": click,
        }
        for click in clicks
    ]
    assert world.client.post("/v1/events", json={"events": events}).json()["accepted"] == len(clicks)


def _funnel(report: dict[str, Any]) -> dict[str, Any]:
    return {key: report[key] for key in FUNNEL}


def test_failed_buys_are_counted_with_their_reasons(
    world: World, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    # Given a brand that sells through Stripe only, and a shopper pressing Buy six times
    connect_stripe(world.client, brand)
    item = make_shoppable(engine, settings, brand)
    _started(world, item, *(f"buy-click-{name}" for name in "abcde"))

    def buy(name: str, **changes: Any) -> int:
        body = item.checkout_body(f"buy-click-{name}", **changes)
        status: int = world.client.post("/v1/checkout", json=body).status_code
        return status

    # When the first asks for Shopify, which the brand has not connected
    assert buy("a", provider="shopify") == 409
    # And Stripe fails the second, which then succeeds on retry, and declines the third outright
    world.stripe.faults.append(error_reply(500, "api_error", "Something went wrong on Stripe's end."))
    assert buy("b") == 502
    assert buy("b") == 201
    world.stripe.faults.append(error_reply(402, "card_error", "Your card was declined.", "card_declined"))
    assert buy("c") == 502
    # And the fourth opens, the fifth never reaches us, and the sixth (not reported by the player)
    # comes after the variant sold out
    assert buy("d") == 201
    sold_out = world.client.patch(
        f"/v1/variants/{item.variant.id}", json={"available": False}, headers=brand.headers
    )
    assert sold_out.status_code == 200
    assert buy("f") == 409
    # And a tap naming no placement of ours is nobody's funnel
    assert buy("g", placement_id=str(uuid.uuid4())) == 404

    # Then the brand sees six presses, two opened, three failed with their reasons, none paid
    expected = {
        "checkouts_started": 6,
        "checkouts_opened": 2,
        "checkouts_failed": 3,
        "checkout_failures": {"provider-error": 1, "provider-not-connected": 1, "variant-unavailable": 1},
        "orders_paid": 0,
    }
    report = world.client.get(f"/v1/analytics/episodes/{item.episode.id}", headers=brand.headers).json()
    assert _funnel(report) == expected
    (placement,) = report["placements"]
    assert _funnel(placement) == expected
    assert _funnel(world.client.get("/v1/analytics/brands/me", headers=brand.headers).json()) == expected
    # And the failures are stored rows the report counts (b's early failure is there, but b opened)
    with Session(engine) as session:
        failed = sorted(
            (row.click_id, row.type)
            for row in session.exec(select(Event).where(Event.type != "checkout_started")).all()
        )
    assert failed == [
        ("buy-click-a", "checkout_failed:provider-not-connected"),
        ("buy-click-b", "checkout_failed:provider-error"),
        ("buy-click-c", "checkout_failed:provider-error"),
        ("buy-click-f", "checkout_failed:variant-unavailable"),
    ]


def test_a_paid_order_is_counted_as_paid(
    world: World, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    connect_stripe(world.client, brand)
    item = make_shoppable(engine, settings, brand)
    assert world.client.post("/v1/checkout", json=item.checkout_body("click-paid")).status_code == 201
    with Session(engine) as session:
        checkout = session.exec(select(CheckoutSession)).one()
        session.add(
            Order(
                brand_id=brand.brand.id,
                provider=CheckoutProviderName.STRIPE,
                provider_event_id="evt_paid",
                checkout_session_id=checkout.id,
                placement_id=item.placement.id,
                episode_id=item.episode.id,
                amount=Decimal("59.90"),
                currency="EUR",
            )
        )
        session.commit()
    report = world.client.get("/v1/analytics/brands/me", headers=brand.headers).json()
    assert _funnel(report) == {
        "checkouts_started": 1,
        "checkouts_opened": 1,
        "checkouts_failed": 0,
        "checkout_failures": {},
        "orders_paid": 1,
    }
    assert report["revenue"] == {"EUR": "59.90"}


def test_players_cannot_report_failures(
    world: World, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    item = make_shoppable(engine, settings, brand)
    forged = {
        "events": [
            {
                "type": "checkout_failed:provider-error",
                "episode_id": str(item.episode.id),
                "placement_id": str(item.placement.id),
            }
        ]
    }
    assert world.client.post("/v1/events", json=forged).status_code == 422
