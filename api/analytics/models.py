"""What the player reports (impressions, taps, sheets opened, checkouts started) and what the checkout
route records itself: a checkout that failed, and why."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from api.columns import created_at_field, id_field

# Written by the checkout route, never accepted from a player: `checkout_failed:<problem type>`, e.g.
# `checkout_failed:variant-unavailable` (the problem's slug says why, within the 40-character column).
CHECKOUT_FAILED = "checkout_failed"
_TYPE_LENGTH = 40


def checkout_failed_type(reason: str) -> str:
    return f"{CHECKOUT_FAILED}:{reason}"[:_TYPE_LENGTH]


def is_checkout_failure(kind: str) -> bool:
    return kind.startswith(f"{CHECKOUT_FAILED}:")


class Event(SQLModel, table=True):
    # The funnel counts a placement's events by type, and reads its Buy presses by their types: both
    # are served by (placement_id, type) alone, without reading the rows (migration 0027; it also
    # serves every lookup by placement_id, so that column has no index of its own).
    __table_args__ = (
        Index("ix_event_episode_type", "episode_id", "type"),
        Index("ix_event_placement_type", "placement_id", "type"),
    )

    id: uuid.UUID = id_field()
    type: str = Field(max_length=_TYPE_LENGTH)
    brand_id: uuid.UUID = Field(foreign_key="brand.id", index=True)
    episode_id: uuid.UUID = Field(foreign_key="episode.id")
    placement_id: uuid.UUID | None = Field(default=None, foreign_key="placement.id")
    click_id: str | None = Field(default=None, max_length=100)
    t_ms: int | None = Field(default=None, ge=0)
    occurred_at: datetime = created_at_field()
    received_at: datetime = created_at_field()
