"""Provider deliveries already processed (dedupe by provider event id)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

from api.columns import (
    MONEY_DECIMALS,
    MONEY_DIGITS,
    UTCDateTime,
    created_at_field,
    id_field,
    optional_timestamp_field,
    utcnow,
)


class ProcessedWebhook(SQLModel, table=True):
    """Each verified provider event once: a redelivery hits the unique constraint and changes nothing."""

    __table_args__ = (UniqueConstraint("provider", "event_id", name="uq_webhook_provider_event"),)

    id: uuid.UUID = id_field()
    provider: str = Field(max_length=20)
    event_id: str = Field(max_length=200)
    event_type: str = Field(max_length=100)
    outcome: str = Field(default="", max_length=200)
    received_at: datetime = created_at_field()


class HeldRefund(SQLModel, table=True):
    """A refund of a purchase ReelCart has not recorded (yet): kept until the purchase's own event is
    processed, then applied to its order, so a refund that overtook an order's retried delivery still
    leaves revenue. Providers retry for days at most (Stripe up to three, Shopify hours), so a held
    refund is forgotten after `api.webhooks.held_refunds.HOLD_FOR`: most are refunds of sales no tap
    led to, which never become orders."""

    __table_args__ = (UniqueConstraint("provider", "payment_ref", name="uq_heldrefund_provider_payment"),)

    id: uuid.UUID = id_field()
    provider: str = Field(max_length=20)
    # How the order will name the purchase: Stripe's PaymentIntent id, Shopify's order GID.
    payment_ref: str = Field(max_length=200)
    # Who reported it, checked again when it is applied: the Stripe connected account (null for a
    # platform event) or the Shopify shop domain.
    reported_by: str | None = Field(default=None, max_length=255)
    # Stripe's running refunded total (its largest snapshot); null for Shopify, whose total in the
    # shop's currency is read from the Admin API when the order is recorded.
    refunded_amount: Decimal | None = Field(
        default=None, sa_type=Numeric(MONEY_DIGITS, MONEY_DECIMALS, asdecimal=True), nullable=True
    )
    currency: str | None = Field(default=None, max_length=3)
    # Stripe's time of the last failed refund applied to the hold (migration 0026): its total was then
    # read from the charge, and a snapshot Stripe made before that (still counting the refund that
    # failed) no longer raises it. Handed to the order with the total, as `Order.refunds_reset_at`.
    refunds_reset_at: datetime | None = optional_timestamp_field()
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
