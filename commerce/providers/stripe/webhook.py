"""Stripe webhooks: verify `Stripe-Signature` on the raw body with the SDK, then build typed events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import stripe

from commerce.checkout import Attribution
from commerce.events import (
    StripeAccountDeauthorized,
    StripeChargeRefunded,
    StripeCheckoutEvent,
    StripeCheckoutOutcome,
    StripeRefundFailed,
    UnhandledEvent,
    WebhookEvent,
)
from commerce.exceptions import MoneyError, WebhookPayloadError, WebhookSignatureError
from commerce.money import Money
from commerce.providers.stripe.amounts import from_stripe_amount
from commerce.providers.stripe.client import PROVIDER
from commerce.settings import CommerceSettings

_OUTCOMES = {outcome.value: outcome for outcome in StripeCheckoutOutcome}


_MISMATCH = "signature does not match the body"


def verify_stripe_event(
    raw_body: bytes, signature_header: str | None, secrets: Sequence[str], tolerance_s: int
) -> stripe.Event:
    """The SDK checks the HMAC over ``{timestamp}.{body}`` and rejects timestamps older than the tolerance.

    Several secrets are tried in order because a Connect platform has two endpoints (its own
    account's events and its connected accounts' events), each with its own signing secret.
    """
    if not secrets:
        raise WebhookSignatureError(PROVIDER, "webhook secret is not configured")
    try:
        event = _construct_with_any(raw_body, signature_header, secrets, tolerance_s)
    except (ValueError, UnicodeDecodeError) as error:
        raise WebhookPayloadError(PROVIDER, f"body is not a Stripe event ({type(error).__name__})") from None
    # `Webhook.construct_event` is unannotated in the SDK; it always builds a v1 `Event`.
    if not isinstance(event, stripe.Event) or not _looks_like_event(event.to_dict()):
        raise WebhookPayloadError(PROVIDER, "body is not a v1 snapshot event")
    return event


def _construct_with_any(
    raw_body: bytes, signature_header: str | None, secrets: Sequence[str], tolerance_s: int
) -> object:
    reason = _MISMATCH
    for secret in secrets:
        try:
            return stripe.Webhook.construct_event(raw_body, signature_header, secret, tolerance=tolerance_s)
        except stripe.SignatureVerificationError as error:
            # The SDK's message never contains the body, but the error object does: drop it here.
            reason = _signature_reason(str(error))
            if reason != _MISMATCH:
                break  # stale, missing or malformed: another secret cannot fix that
    raise WebhookSignatureError(PROVIDER, reason) from None


def _looks_like_event(values: dict[str, object]) -> bool:
    data = values.get("data")
    return (
        values.get("object") == "event"
        and isinstance(values.get("id"), str)
        and isinstance(values.get("type"), str)
        and isinstance(data, dict)
        and isinstance(data.get("object"), dict)
    )


def _signature_reason(message: str) -> str:
    lowered = message.lower()
    if "tolerance" in lowered:
        return "timestamp outside the tolerance (stale or replayed delivery)"
    if "no stripe-signature header" in lowered:
        return "missing Stripe-Signature header"
    if "unable to extract" in lowered:
        return "malformed Stripe-Signature header"
    if "secret" in lowered:
        return "webhook secret is not configured"
    return _MISMATCH


def to_webhook_event(event: stripe.Event) -> WebhookEvent:
    if event.type == StripeAccountDeauthorized.event_type:
        # Sent to the Connect endpoint; `account` names who disconnected (the object is our application).
        account = _account(event)
        if not account:
            raise WebhookPayloadError(PROVIDER, f"event {event.id} ({event.type}) names no account")
        return StripeAccountDeauthorized(event_id=event.id, account_id=account)
    if event.type == StripeChargeRefunded.event_type:
        return _charge_refunded(event)
    if event.type == StripeRefundFailed.event_type:
        return _refund_updated(event)
    outcome = _OUTCOMES.get(event.type)
    if outcome is None:
        return UnhandledEvent(PROVIDER, event.id, event.type)
    session = event.data.object
    if not isinstance(session, stripe.checkout.Session):
        raise WebhookPayloadError(PROVIDER, f"event {event.id} ({event.type}) carries no checkout.session")
    raw_metadata = session.metadata.to_dict() if session.metadata is not None else {}
    metadata = {str(key): str(value) for key, value in raw_metadata.items()}
    return StripeCheckoutEvent(
        event_id=event.id,
        outcome=outcome,
        session_id=session.id,
        payment_status=session.payment_status,
        account_id=_account(event),
        attribution=Attribution.from_pairs(metadata),
        client_reference_id=session.client_reference_id,
        amount_total=_amount(event.id, session),
        created_at=datetime.fromtimestamp(event.created, tz=UTC),
        livemode=event.livemode,
        payment_intent_id=_object_id(getattr(session, "payment_intent", None)),
    )


def _charge_refunded(event: stripe.Event) -> StripeChargeRefunded:
    charge = event.data.object
    if not isinstance(charge, stripe.Charge):
        raise WebhookPayloadError(PROVIDER, f"event {event.id} ({event.type}) carries no charge")
    try:
        amount = from_stripe_amount(charge.amount, charge.currency)
        refunded = from_stripe_amount(charge.amount_refunded, charge.currency)
    except MoneyError as error:
        raise WebhookPayloadError(PROVIDER, f"event {event.id}: {error}") from None
    return StripeChargeRefunded(
        event_id=event.id,
        charge_id=charge.id,
        payment_intent_id=_object_id(getattr(charge, "payment_intent", None)),
        account_id=_account(event),
        amount=amount,
        refunded=refunded,
        livemode=event.livemode,
        created_at=datetime.fromtimestamp(event.created, tz=UTC),
    )


# A refund in these states is no longer part of the charge's refunded total.
_REFUND_UNDONE = frozenset({"failed", "canceled"})


def _refund_updated(event: stripe.Event) -> WebhookEvent:
    refund = event.data.object
    if not isinstance(refund, stripe.Refund):
        raise WebhookPayloadError(PROVIDER, f"event {event.id} ({event.type}) carries no refund")
    charge_id = _object_id(getattr(refund, "charge", None))
    if refund.status not in _REFUND_UNDONE or charge_id is None:
        # Pending, succeeded or requiring action: the refunded total `charge.refunded` gave stands.
        return UnhandledEvent(PROVIDER, event.id, event.type)
    return StripeRefundFailed(
        event_id=event.id,
        refund_id=refund.id,
        charge_id=charge_id,
        payment_intent_id=_object_id(getattr(refund, "payment_intent", None)),
        account_id=_account(event),
        status=str(refund.status),
        livemode=event.livemode,
        created_at=datetime.fromtimestamp(event.created, tz=UTC),
    )


def _object_id(field: object) -> str | None:
    """The id of a field Stripe sends as an id or, when expanded, as the object itself."""
    if field is None or isinstance(field, str):
        return field or None
    value = getattr(field, "id", None)
    return str(value) if value else None


def _account(event: stripe.Event) -> str | None:
    """The connected account an event is from; None for the platform's own events, which carry no
    `account` field at all (the SDK raises AttributeError for a field the event lacks)."""
    account = getattr(event, "account", None)
    return str(account) if account else None


def _amount(event_id: str, session: stripe.checkout.Session) -> Money | None:
    if session.amount_total is None or not session.currency:
        return None
    try:
        return from_stripe_amount(session.amount_total, session.currency)
    except MoneyError as error:
        raise WebhookPayloadError(PROVIDER, f"event {event_id}: {error}") from None


def verify_and_parse_stripe(
    raw_body: bytes, signature_header: str | None, settings: CommerceSettings
) -> WebhookEvent:
    """Raise `WebhookSignatureError` (forged, stale beyond the tolerance) or `WebhookPayloadError`.

    Deliveries are signed by the platform endpoint's secret or, for connected accounts' events, by
    the Connect endpoint's: either verifies."""
    secrets = [settings.stripe_webhook_secret.get_secret_value()]
    if settings.stripe_connect_webhook_secret is not None:
        secrets.append(settings.stripe_connect_webhook_secret.get_secret_value())
    return to_webhook_event(
        verify_stripe_event(raw_body, signature_header, secrets, settings.webhook_tolerance_s)
    )
