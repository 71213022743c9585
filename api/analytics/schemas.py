"""Player events (public, batched) and the analytics a brand reads back."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

MAX_EVENTS_PER_BATCH = 200


class EventType(StrEnum):
    HOTSPOT_IMPRESSION = "hotspot_impression"
    HOTSPOT_TAP = "hotspot_tap"
    SHEET_OPEN = "sheet_open"
    CHECKOUT_STARTED = "checkout_started"


class EventIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: EventType
    episode_id: uuid.UUID
    placement_id: uuid.UUID | None = None
    click_id: str | None = Field(default=None, max_length=100)
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


class PlacementStats(BaseModel):
    placement_id: uuid.UUID
    episode_id: uuid.UUID
    label: str
    product_title: str | None
    impressions: int
    taps: int
    tap_rate: float
    sheet_opens: int
    checkouts: int
    orders: int
    revenue: dict[str, str]
    conversion: float


class AnalyticsReport(BaseModel):
    scope: str
    impressions: int
    taps: int
    checkouts: int
    orders: int
    revenue: dict[str, str]
    placements: list[PlacementStats]
