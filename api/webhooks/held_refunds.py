"""Refunds that arrive before their order: held, then applied when the order is recorded.

A provider retries a delivery that failed (ReelCart down, a database outage, a provider call that
failed), and meanwhile later events go on arriving: a brand can refund a purchase whose
`checkout.session.completed` or `orders/create` is still waiting for its retry. Acknowledged and
dropped, that refund would never leave revenue. So a refund that finds no order is held under the
name the order will carry (Stripe's PaymentIntent, Shopify's order GID) and taken when the order is
recorded. Most held refunds are of sales no tap led to (a connected account reports all its charges,
a shop all its orders): they never find an order and are forgotten after `HOLD_FOR`, longer than any
provider retries a delivery.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from api.columns import utcnow
from api.webhooks.models import HeldRefund
from commerce.money import Money

# Stripe retries a live-mode delivery for up to three days, Shopify for hours: a week covers both.
HOLD_FOR = timedelta(days=7)


def lock_payment(session: Session, provider: str, payment_ref: str) -> None:
    """Serialize, until the transaction ends, the events about one payment that could otherwise miss
    each other: a refund finding no order while the order is being recorded (not yet visible), which
    then takes no hold (not yet visible either). Shopify's order events hold their brand's row lock
    already; Stripe's lock nothing both would wait on. SQLite runs one writer at a time anyway."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"reelcart-payment:{provider}:{payment_ref}"},
        )


def hold_refund(
    session: Session,
    *,
    provider: str,
    payment_ref: str,
    reported_by: str | None,
    refunded: Money | None = None,
    as_of: datetime | None = None,
) -> HeldRefund:
    """Keep a refund of `payment_ref` until its order is recorded, with the provider's running total
    when the event carries one (the largest snapshot wins, as on an order, except one the provider made
    at `as_of` before a failed refund was applied to the hold: it still counted that refund). Flushes
    only."""
    forget_expired(session)
    row = held_refund(session, provider, payment_ref, lock=True)
    if row is None:
        row = HeldRefund(provider=provider, payment_ref=payment_ref, reported_by=reported_by)
        try:
            # A savepoint: a second refund of the same payment held at the same moment loses the insert
            # race without undoing the delivery's own rows; it then updates the winner's.
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            found = held_refund(session, provider, payment_ref, lock=True)
            if found is None:
                raise
            row = found
    stale = as_of is not None and row.refunds_reset_at is not None and as_of < row.refunds_reset_at
    if refunded is not None and not stale and _larger(row, refunded):
        row.refunded_amount, row.currency = refunded.amount, refunded.currency
    row.received_at = utcnow()
    session.add(row)
    session.flush()
    return row


def reset_held_refund(
    session: Session, held: HeldRefund, refunded: Money, failed_at: datetime | None
) -> bool:
    """Set a hold's total to the one read from the charge after one of its refunds failed (Stripe's
    event of `failed_at`): lower than the largest snapshot, which counted the refund that failed. A
    failure older than one already applied changes nothing (its read came first); returns whether it
    changed the hold. Flushes only."""
    if failed_at is not None and held.refunds_reset_at is not None and failed_at < held.refunds_reset_at:
        return False
    held.refunded_amount, held.currency = refunded.amount, refunded.currency
    held.refunds_reset_at = failed_at
    session.add(held)
    session.flush()
    return True


def _larger(row: HeldRefund, refunded: Money) -> bool:
    if row.refunded_amount is None or row.currency != refunded.currency:
        return True
    return refunded.amount > row.refunded_amount


def take_held_refund(session: Session, provider: str, payment_ref: str) -> HeldRefund | None:
    """The refund held for `payment_ref`, removed from the hold (the caller applies it to the order it
    has just recorded, in the same transaction). None when nothing was held or the hold expired."""
    row = held_refund(session, provider, payment_ref, lock=True)
    if row is None:
        return None
    session.delete(row)
    session.flush()
    if row.received_at < utcnow() - HOLD_FOR:
        return None
    return row


def held_refund(
    session: Session, provider: str, payment_ref: str, *, lock: bool = False
) -> HeldRefund | None:
    """The refund held for `payment_ref`, if any. Locked when asked (the caller changes it): the order's
    own event, recorded at the same moment, then takes the row after this one is done."""
    statement = select(HeldRefund).where(
        HeldRefund.provider == provider, HeldRefund.payment_ref == payment_ref
    )
    return session.exec(statement.with_for_update() if lock else statement).first()


def forget_expired(session: Session) -> int:
    """Delete the holds older than `HOLD_FOR`; returns how many."""
    result = session.execute(delete(HeldRefund).where(col(HeldRefund.received_at) < utcnow() - HOLD_FOR))
    return int(getattr(result, "rowcount", 0) or 0)


def forget_reported_by(session: Session, provider: str, reported_by: str) -> int:
    """Delete what one shop or account reported (a shop's redaction); returns how many."""
    result = session.execute(
        delete(HeldRefund).where(
            col(HeldRefund.provider) == provider, col(HeldRefund.reported_by) == reported_by
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
