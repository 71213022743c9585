"""Checkout sessions opened from a tap, and the orders provider webhooks attribute to them."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from api.brands.models import CheckoutProviderName
from api.columns import EnumText, created_at_field, id_field, money_field, optional_timestamp_field


class CheckoutStatus(StrEnum):
    OPEN = "open"
    AWAITING_PAYMENT = "awaiting_payment"  # completed with a delayed payment method (e.g. SEPA)
    COMPLETED = "completed"
    PAYMENT_FAILED = "payment_failed"
    EXPIRED = "expired"


class OrderStatus(StrEnum):
    """ "paid" and "cancelled" are ReelCart's; the others are Shopify's financial statuses, kept as sent
    for an order that is not paid (yet)."""

    PAID = "paid"
    CANCELLED = "cancelled"
    PENDING = "pending"
    AUTHORIZED = "authorized"
    PARTIALLY_PAID = "partially_paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    VOIDED = "voided"
    EXPIRED = "expired"


class CheckoutSession(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("provider", "click_id", name="uq_checkout_provider_click"),)

    id: uuid.UUID = id_field()
    brand_id: uuid.UUID = Field(foreign_key="brand.id", index=True)
    click_id: str = Field(max_length=100)
    placement_id: uuid.UUID = Field(foreign_key="placement.id", index=True)
    episode_id: uuid.UUID = Field(foreign_key="episode.id", index=True)
    variant_id: uuid.UUID = Field(foreign_key="variant.id")
    quantity: int = Field(ge=1)
    provider: CheckoutProviderName = Field(sa_type=EnumText(CheckoutProviderName, 20))
    provider_session_id: str | None = Field(default=None, max_length=200, index=True)
    status: CheckoutStatus = Field(default=CheckoutStatus.OPEN, sa_type=EnumText(CheckoutStatus, 30))
    amount: Decimal = money_field()
    currency: str = Field(max_length=3)
    created_at: datetime = created_at_field()


class Order(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("provider", "provider_event_id", name="uq_order_provider_event"),)

    id: uuid.UUID = id_field()
    brand_id: uuid.UUID = Field(foreign_key="brand.id", index=True)
    provider: CheckoutProviderName = Field(sa_type=EnumText(CheckoutProviderName, 20))
    provider_event_id: str = Field(max_length=200)
    provider_order_id: str | None = Field(default=None, max_length=200)
    checkout_session_id: uuid.UUID | None = Field(default=None, foreign_key="checkoutsession.id")
    placement_id: uuid.UUID | None = Field(default=None, foreign_key="placement.id", index=True)
    episode_id: uuid.UUID | None = Field(default=None, foreign_key="episode.id", index=True)
    amount: Decimal = money_field()
    currency: str = Field(max_length=3)
    status: OrderStatus = Field(default=OrderStatus.PAID, sa_type=EnumText(OrderStatus, 30))
    # All the order's refunds so far, in its currency (never more than `amount`): revenue counts
    # `amount - refunded_amount`; a paid order refunded in full becomes `refunded`.
    refunded_amount: Decimal = money_field(default=Decimal(0))
    # Stripe's PaymentIntent of the session: `charge.refunded` names the purchase by it, not by the
    # session (null for Shopify, and for Stripe orders recorded before migration 0020).
    provider_payment_id: str | None = Field(default=None, max_length=200, index=True)
    # Stripe's time (the event's `created`) of the last failed refund whose charge was read to set
    # `refunded_amount` (migration 0025): a `charge.refunded` snapshot made before it still counted the
    # failed refund, and changes nothing.
    refunds_reset_at: datetime | None = optional_timestamp_field()
    created_at: datetime = created_at_field()
