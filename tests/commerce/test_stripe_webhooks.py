"""Stripe webhooks: bodies built with the SDK's constructors, signed with the SDK's own helper."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import stripe

from commerce.checkout import Attribution
from commerce.events import (
    StripeChargeRefunded,
    StripeCheckoutEvent,
    StripeCheckoutOutcome,
    StripeRefundFailed,
    UnhandledEvent,
)
from commerce.exceptions import WebhookPayloadError, WebhookSignatureError
from commerce.money import Money
from commerce.providers.stripe import charges_live
from commerce.webhooks import verify_and_parse_stripe
from tests.commerce.fakes.stripe_fake import API_KEY, NOW
from tests.utils.commerce import STRIPE_WEBHOOK_SECRET, make_settings

SETTINGS = make_settings()
ATTRIBUTION = {
    "reelcart_click_id": "click-7f3a",
    "reelcart_placement_id": "plc-42",
    "reelcart_episode_id": "ep-3",
}


def event_body(
    event_type: str = "checkout.session.completed",
    *,
    event_id: str = "evt_1",
    payment_status: str = "paid",
    metadata: dict[str, str] | None = None,
    data_object: dict[str, Any] | None = None,
    account: str | None = "acct_1BrandDrama",
    amount_total: int = 11980,
    currency: str = "eur",
) -> bytes:
    session = stripe.checkout.Session.construct_from(
        {
            "id": "cs_test_0001",
            "object": "checkout.session",
            "mode": "payment",
            "status": "complete",
            "payment_status": payment_status,
            "amount_total": amount_total,
            "currency": currency,
            "client_reference_id": "click-7f3a",
            "metadata": ATTRIBUTION if metadata is None else metadata,
            "livemode": False,
        },
        API_KEY,
    )
    # The platform's own events carry no `account` field at all (only Connect events name one).
    connect = {"account": account} if account is not None else {}
    event = stripe.Event.construct_from(
        {
            "id": event_id,
            "object": "event",
            "type": event_type,
            **connect,
            "api_version": "2026-10-28.endive",
            "created": NOW,
            "livemode": False,
            "pending_webhooks": 1,
            "data": {"object": data_object if data_object is not None else session.to_dict()},
        },
        API_KEY,
    )
    return json.dumps(event.to_dict()).encode()


def sign(body: bytes, *, secret: str = STRIPE_WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    header: str = stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=timestamp
    )
    return header


def completed_event(**changes: Any) -> StripeCheckoutEvent:
    values: dict[str, Any] = {
        "event_id": "evt_1",
        "outcome": StripeCheckoutOutcome.COMPLETED,
        "session_id": "cs_test_0001",
        "payment_status": "paid",
        "account_id": "acct_1BrandDrama",
        "attribution": Attribution(click_id="click-7f3a", placement_id="plc-42", episode_id="ep-3"),
        "client_reference_id": "click-7f3a",
        "amount_total": Money(Decimal("119.80"), "EUR"),
        "created_at": datetime.fromtimestamp(NOW, tz=UTC),
        "livemode": False,
        **changes,
    }
    return StripeCheckoutEvent(**values)


def test_a_signed_completed_session_becomes_a_typed_paid_event() -> None:
    body = event_body()

    event = verify_and_parse_stripe(body, sign(body), SETTINGS)

    assert event == completed_event()
    assert isinstance(event, StripeCheckoutEvent)
    assert (event.event_type, event.paid) == ("checkout.session.completed", True)


@pytest.mark.parametrize(
    ("event_type", "payment_status", "paid"),
    [
        ("checkout.session.completed", "unpaid", False),  # bank debit still pending
        ("checkout.session.async_payment_succeeded", "paid", True),
        ("checkout.session.async_payment_failed", "unpaid", False),
        ("checkout.session.expired", "unpaid", False),
    ],
)
def test_each_checkout_outcome_says_whether_money_was_collected(
    event_type: str, payment_status: str, paid: bool
) -> None:
    body = event_body(event_type, payment_status=payment_status)

    event = verify_and_parse_stripe(body, sign(body), SETTINGS)

    assert event == completed_event(outcome=StripeCheckoutOutcome(event_type), payment_status=payment_status)
    assert isinstance(event, StripeCheckoutEvent)
    assert event.paid is paid


def test_a_session_reelcart_did_not_create_has_no_attribution() -> None:
    body = event_body(metadata={"order": "pos-17"})

    event = verify_and_parse_stripe(body, sign(body), SETTINGS)

    assert event == completed_event(attribution=None)


def test_a_platform_event_names_no_account_and_still_parses() -> None:
    # Given a checkout on the platform's own account (Stripe sends no `account` field then)
    body = event_body(account=None)

    event = verify_and_parse_stripe(body, sign(body), SETTINGS)

    # Then it is the same paid event, from no connected account (it used to raise AttributeError: a 500)
    assert event == completed_event(account_id=None)


@pytest.mark.parametrize(
    ("amount_total", "currency", "total"),
    [
        (500000, "isk", Money(Decimal(5000), "ISK")),  # Stripe keeps ISK two-decimal: 100 is 1 kr
        (1000, "mga", Money(Decimal(1000), "MGA")),  # zero-decimal at Stripe, two at ISO
        (5120, "kwd", Money(Decimal("5.12"), "KWD")),
        (500, "jpy", Money(Decimal(500), "JPY")),
    ],
)
def test_a_session_total_is_read_in_stripe_minor_units(
    amount_total: int, currency: str, total: Money
) -> None:
    body = event_body(amount_total=amount_total, currency=currency)

    event = verify_and_parse_stripe(body, sign(body), SETTINGS)

    assert isinstance(event, StripeCheckoutEvent)
    assert event.amount_total == total


def test_an_unknown_event_type_is_verified_then_left_unhandled() -> None:
    body = event_body("customer.created", data_object={"id": "cus_1", "object": "customer"})

    assert verify_and_parse_stripe(body, sign(body), SETTINGS) == UnhandledEvent(
        "stripe", "evt_1", "customer.created"
    )


def test_a_replayed_delivery_parses_to_the_same_event_id_for_the_api_to_dedupe() -> None:
    # Given Stripe delivers the same event twice (a retry after our slow 200)
    body = event_body()
    header = sign(body)

    # When both deliveries arrive within the tolerance
    first = verify_and_parse_stripe(body, header, SETTINGS)
    again = verify_and_parse_stripe(body, header, SETTINGS)

    # Then they are equal, keyed by the provider event id the database makes unique
    assert first == again
    assert first.event_id == "evt_1"


@pytest.mark.parametrize(
    ("make_header", "reason"),
    [
        (lambda body: sign(body, secret="whsec_attacker"), "signature does not match the body"),
        (lambda body: sign(body + b" "), "signature does not match the body"),
        (
            lambda body: sign(body, timestamp=int(time.time()) - 301),
            "timestamp outside the tolerance (stale or replayed delivery)",
        ),
        (lambda body: None, "missing Stripe-Signature header"),
        (lambda body: "garbage", "malformed Stripe-Signature header"),
        (lambda body: f"t={int(time.time())}", "signature does not match the body"),
    ],
    ids=["forged", "tampered", "stale", "missing", "malformed", "no-v1"],
)
def test_bad_signatures_are_rejected_without_echoing_the_body(make_header: Any, reason: str) -> None:
    body = event_body()

    with pytest.raises(WebhookSignatureError) as error:
        verify_and_parse_stripe(body, make_header(body), SETTINGS)

    assert (error.value.provider, error.value.reason) == ("stripe", reason)
    assert "cs_test_0001" not in str(error.value)
    assert error.value.__cause__ is None
    assert error.value.__suppress_context__


def test_connect_events_signed_with_the_connect_endpoint_secret_are_accepted() -> None:
    # Given the platform configured both its account and its Connect endpoint secrets
    settings = make_settings(stripe_connect_webhook_secret="whsec_connect_loopback")
    body = event_body()

    # When / Then either secret verifies, a third does not
    assert (
        verify_and_parse_stripe(body, sign(body, secret="whsec_connect_loopback"), settings)
        == completed_event()
    )
    assert verify_and_parse_stripe(body, sign(body), settings) == completed_event()
    with pytest.raises(WebhookSignatureError, match="signature does not match"):
        verify_and_parse_stripe(body, sign(body, secret="whsec_other"), settings)


def test_a_stale_connect_event_is_still_stale() -> None:
    settings = make_settings(stripe_connect_webhook_secret="whsec_connect_loopback")
    body = event_body()
    header = sign(body, secret="whsec_connect_loopback", timestamp=int(time.time()) - 600)

    with pytest.raises(WebhookSignatureError, match="outside the tolerance"):
        verify_and_parse_stripe(body, header, settings)


def test_a_signature_just_inside_the_tolerance_is_accepted() -> None:
    body = event_body()

    event = verify_and_parse_stripe(body, sign(body, timestamp=int(time.time()) - 290), SETTINGS)

    assert event.event_id == "evt_1"


def test_a_validly_signed_body_that_is_not_an_event_is_a_payload_error() -> None:
    body = b'{"hello": "world"}'

    with pytest.raises(WebhookPayloadError) as error:
        verify_and_parse_stripe(body, sign(body), SETTINGS)

    assert error.value.provider == "stripe"


def test_a_checkout_event_without_a_session_object_is_a_payload_error() -> None:
    body = event_body(data_object={"id": "cus_1", "object": "customer"})

    with pytest.raises(WebhookPayloadError, match=r"carries no checkout\.session"):
        verify_and_parse_stripe(body, sign(body), SETTINGS)


@pytest.mark.parametrize(
    ("key", "live"),
    [("sk_live_51abc", True), ("rk_live_51abc", True), ("sk_test_51abc", False), ("rk_test_51abc", False)],
)
def test_a_platform_charges_live_only_with_a_live_key(key: str, live: bool) -> None:
    assert charges_live(make_settings(stripe_secret_key=key)) is live


def charge(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": "ch_1",
        "object": "charge",
        "amount": 11980,
        "amount_refunded": 5990,
        "currency": "eur",
        "payment_intent": "pi_1",
        "refunded": False,
        "metadata": {},
        "livemode": False,
    }
    return values | changes


@pytest.mark.parametrize(
    ("changes", "amount", "refunded"),
    [
        ({}, Money(Decimal("119.80"), "EUR"), Money(Decimal("59.90"), "EUR")),
        # ISK is two-decimal at Stripe (as its session totals): 500000 is 5,000 kr
        (
            {"amount": 500000, "amount_refunded": 100000, "currency": "isk"},
            Money(Decimal(5000), "ISK"),
            Money(Decimal(1000), "ISK"),
        ),
        # An expanded PaymentIntent still names its id
        (
            {"payment_intent": {"id": "pi_1", "object": "payment_intent"}},
            Money(Decimal("119.80"), "EUR"),
            Money(Decimal("59.90"), "EUR"),
        ),
    ],
    ids=["eur", "isk", "expanded"],
)
def test_a_refunded_charge_becomes_a_typed_event_with_its_running_refunded_total(
    changes: dict[str, Any], amount: Money, refunded: Money
) -> None:
    body = event_body("charge.refunded", event_id="evt_r", data_object=charge(**changes))

    event = verify_and_parse_stripe(body, sign(body), SETTINGS)

    assert event == StripeChargeRefunded(
        event_id="evt_r",
        charge_id="ch_1",
        payment_intent_id="pi_1",
        account_id="acct_1BrandDrama",
        amount=amount,
        refunded=refunded,
        livemode=False,
        created_at=datetime.fromtimestamp(NOW, tz=UTC),
    )


def refund_object(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": "re_1",
        "object": "refund",
        "amount": 5990,
        "charge": "ch_1",
        "payment_intent": "pi_1",
        "currency": "eur",
        "status": "failed",
        "failure_reason": "expired_or_canceled_card",
    }
    return values | changes


@pytest.mark.parametrize("status", ["failed", "canceled"])
def test_a_refund_that_failed_or_was_canceled_becomes_a_typed_event(status: str) -> None:
    body = event_body("charge.refund.updated", event_id="evt_u", data_object=refund_object(status=status))

    event = verify_and_parse_stripe(body, sign(body), SETTINGS)

    assert event == StripeRefundFailed(
        event_id="evt_u",
        refund_id="re_1",
        charge_id="ch_1",
        payment_intent_id="pi_1",
        account_id="acct_1BrandDrama",
        status=status,
        livemode=False,
        created_at=datetime.fromtimestamp(NOW, tz=UTC),
    )


@pytest.mark.parametrize("status", ["pending", "succeeded", "requires_action"])
def test_a_refund_update_that_takes_nothing_back_is_not_handled(status: str) -> None:
    body = event_body("charge.refund.updated", data_object=refund_object(status=status))

    event = verify_and_parse_stripe(body, sign(body), SETTINGS)

    assert isinstance(event, UnhandledEvent)


def test_a_refund_update_without_a_refund_is_a_payload_error() -> None:
    body = event_body("charge.refund.updated", data_object=charge())

    with pytest.raises(WebhookPayloadError):
        verify_and_parse_stripe(body, sign(body), SETTINGS)


def test_a_completed_session_names_its_payment_intent() -> None:
    session = json.loads(event_body())["data"]["object"] | {"payment_intent": "pi_9"}
    body = event_body(data_object=session)

    event = verify_and_parse_stripe(body, sign(body), SETTINGS)

    assert isinstance(event, StripeCheckoutEvent)
    assert event.payment_intent_id == "pi_9"


@pytest.mark.parametrize(
    "data_object",
    [
        {"id": "cs_1", "object": "checkout.session"},
        charge(currency="xyz"),
        # 1.50 kr: ISO's króna has no decimals, so no refund of ours can be it
        charge(amount=500000, amount_refunded=150, currency="isk"),
    ],
    ids=["not-a-charge", "unknown-currency", "fraction-of-a-krona"],
)
def test_a_refund_event_without_a_usable_charge_is_a_payload_error(data_object: dict[str, Any]) -> None:
    body = event_body("charge.refunded", data_object=data_object)

    with pytest.raises(WebhookPayloadError):
        verify_and_parse_stripe(body, sign(body), SETTINGS)
