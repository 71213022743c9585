"""Player events (public, batched) and the analytics a brand reads back."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from api.types import Text

MAX_EVENTS_PER_BATCH = 200


class EventType(StrEnum):
    HOTSPOT_IMPRESSION = "hotspot_impression"
    HOTSPOT_TAP = "hotspot_tap"
    SHEET_OPEN = "sheet_open"
    CHECKOUT_STARTED = "checkout_started"


class EventIn(BaseModel):
    # Strict: as the schema says, t_ms is a JSON integer and ts an RFC 3339 string (not "12" or 12).
    model_config = ConfigDict(extra="ignore", strict=True)

    type: EventType
    episode_id: uuid.UUID
    placement_id: uuid.UUID | None = None
    click_id: Text | None = Field(default=None, max_length=100)
    t_ms: int | None = Field(default=None, ge=0, le=24 * 3600 * 1000)
    ts: datetime | None = None


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class RejectedEvent(BaseModel):
    index: int
    reason: str


class EventReceipt(BaseModel):
    accepted: int
    rejected: list[RejectedEvent]


# The Buy funnel, per placement and in total. Each Buy press carries a click id, so a press the player
# reported and the checkout route also saw counts once, and a click retried after a failure until it
# opened counts as opened, not failed: started = opened + failed + presses the server never heard of.
CheckoutsStarted = Annotated[
    int,
    Field(
        description="Buy presses: distinct click ids the player reported (`checkout_started`) or the "
        "checkout route received"
    ),
]
CheckoutsOpened = Annotated[
    int, Field(description="Provider checkouts created (a Stripe session, a Shopify cart)")
]
CheckoutsFailed = Annotated[
    int, Field(description="Presses the checkout route refused or the provider failed, and that never opened")
]
CheckoutFailures = Annotated[
    dict[str, int],
    Field(
        description="`checkouts_failed` by problem type: e.g. `variant-unavailable` (sold out), "
        "`provider-not-connected`, `placement-not-shoppable`, `provider-error`, `provider-timeout`"
    ),
]
OrdersPaid = Annotated[
    int,
    Field(description="Paid orders attributed by provider webhooks; one refunded in full no longer counts"),
]
Revenue = Annotated[
    dict[str, str],
    Field(
        description="What paid orders brought in and kept, per currency: their totals less what was "
        "refunded (a provider's refund webhooks)"
    ),
]
Refunded = Annotated[
    dict[str, str],
    Field(
        description="What was given back of those orders, per currency; revenue + refunded = what was paid"
    ),
]


class PlacementStats(BaseModel):
    placement_id: uuid.UUID
    episode_id: uuid.UUID
    label: str
    product_title: str | None
    impressions: int
    taps: int
    tap_rate: float | None = Field(
        description="taps / impressions, each counted once per viewer (client IP + User-Agent) in the "
        "dedupe window; null when the placement has no impressions (no rate, rather than 0)"
    )
    sheet_opens: int
    checkouts_started: CheckoutsStarted
    checkouts_opened: CheckoutsOpened
    checkouts_failed: CheckoutsFailed
    checkout_failures: CheckoutFailures
    orders_paid: OrdersPaid
    revenue: Revenue
    refunded: Refunded
    conversion: float | None = Field(
        description="orders_paid / taps; null when the placement has no taps (no rate, rather than 0: "
        "its paid orders are still in `orders_paid`)"
    )


class AnalyticsReport(BaseModel):
    scope: str
    since: date | None = Field(
        description="The first UTC day counted (as asked; null: from the first event, checkout and order)"
    )
    until: date | None = Field(description="The last UTC day counted, included (as asked; null: up to now)")
    impressions: int
    taps: int
    checkouts_started: CheckoutsStarted
    checkouts_opened: CheckoutsOpened
    checkouts_failed: CheckoutsFailed
    checkout_failures: CheckoutFailures
    orders_paid: OrdersPaid
    revenue: Revenue
    refunded: Refunded
    placements: list[PlacementStats]
