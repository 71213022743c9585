"""Signed Stripe webhooks through HTTP: verified first, stored once, orders counted once (and what
holds for every provider: duplicates, unknown event types)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine

from api.checkout.models import CheckoutSession, Order
from api.webhooks.models import ProcessedWebhook
from tests.api.commerce_support import (
    ACCOUNT,
    STRIPE_WEBHOOK_SECRET,
    Shoppable,
    World,
    stripe_delivery,
    stripe_event_body,
)
from tests.api.concurrency import skip_unless_postgres
from tests.utils.api import BrandAccount
from tests.utils.webhooks import count, paid_body, paid_order_row, receipt, rows, tap

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


def deauthorized_body(account: str | None, event_id: str = "evt_deauth_1") -> bytes:
    """`account.application.deauthorized` as Stripe sends it to the Connect endpoint."""
    application = {"id": "ca_ReelCartPlatform", "object": "application", "name": "ReelCart"}
    return stripe_event_body(
        application, event_id=event_id, event_type="account.application.deauthorized", account=account
    )


def test_a_brand_that_disconnects_its_stripe_account_stops_selling_through_stripe(
    world: World, hoodie: Shoppable, brand: BrandAccount, engine: Engine
) -> None:
    # Given a brand selling through its connected Stripe account
    tap(world, hoodie, provider="stripe")

    # When the brand removes ReelCart from its Stripe dashboard
    response = stripe_delivery(world.client, deauthorized_body(ACCOUNT))

    # Then the delivery is handled, the brand shows Stripe as not connected, and the next checkout is a
    # clear 409 instead of a session on an account we can no longer reach
    assert receipt(response)["outcome"] == f"Stripe account {ACCOUNT} disconnected from the brand"
    me = world.client.get("/v1/brands/me", headers=brand.headers).json()
    assert me["providers"]["stripe"] == {"connected": False, "account_id": None}
    sessions_before = len(world.stripe.sessions)
    refused = world.client.post(
        "/v1/checkout", json=hoodie.checkout_body(provider="stripe", click_id="click-0002")
    )
    assert refused.status_code == 409
    assert refused.json()["errors"] == [{"field": "provider", "message": "stripe is not connected"}]
    assert len(world.stripe.sessions) == sessions_before
    # And Shopify, still connected, keeps selling
    assert tap(world, hoodie, provider="shopify", click_id="click-0003")["provider"] == "shopify"


def test_a_deauthorization_for_an_unknown_account_changes_nothing_and_one_without_an_account_is_400(
    world: World, hoodie: Shoppable, brand: BrandAccount
) -> None:
    other = stripe_delivery(world.client, deauthorized_body("acct_1SomeoneElse"))
    assert (
        receipt(other)["outcome"] == "ignored: Stripe account acct_1SomeoneElse is not connected to a brand"
    )
    nameless = stripe_delivery(world.client, deauthorized_body(None, event_id="evt_deauth_2"))
    assert nameless.status_code == 400
    assert nameless.json()["detail"].endswith("names no account")
    me = world.client.get("/v1/brands/me", headers=brand.headers).json()
    assert me["providers"]["stripe"] == {"connected": True, "account_id": ACCOUNT}


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


def test_a_live_mode_event_to_a_platform_on_test_keys_records_nothing(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    # Given a tap on a platform running on test keys, and a paid session reported in live mode
    tap(world, hoodie)
    body = stripe_event_body(world.stripe.sessions["cs_test_0001"], event_id="evt_live_1", livemode=True)

    response = stripe_delivery(world.client, body)

    # Then it is acknowledged (Stripe stops retrying) and no sale is recorded: the modes do not match
    assert (
        receipt(response)["outcome"] == "ignored: a live-mode event, and this platform charges with test keys"
    )
    assert count(engine, Order) == 0
    assert [row.status for row in rows(engine, CheckoutSession)] == ["open"]


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
    skip_unless_postgres(engine)

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
    skip_unless_postgres(engine)
    tap(world, hoodie)
    bodies = [paid_body(world, event_id=f"evt_paid_{n}") for n in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda body: stripe_delivery(world.client, body), bodies))
    assert [response.status_code for response in responses] == [200] * 6
    assert (count(engine, Order), count(engine, ProcessedWebhook)) == (1, 6)


# Shopify -----------------------------------------------------------------------------------------
