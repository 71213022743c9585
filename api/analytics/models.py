"""What the player reports (impressions, taps, sheets opened, checkouts started) and what the checkout
route records itself: a checkout that failed, and why."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Index, text
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


# Which events are Buy presses, as SQL: the condition of their partial index (migration 0029), and the one
# the funnel reads them with. A database uses a partial index only for a query that states its condition, so
# both are this text, with no bound parameter (SQLite plans a statement before its parameters are bound).
BUY_PRESS_SQL = f"(type = 'checkout_started' OR type LIKE '{CHECKOUT_FAILED}:%')"


class Event(SQLModel, table=True):
    # Lookups by placement and type (recounts, checks, deletions) use (placement_id, type, occurred_at)
    # (migration 0031, after 0027's (placement_id, type)): counting a placement's events per UTC day reads
    # the index alone. It serves every lookup by placement_id, so that column has no index of its own.
    # The funnel reads a brand's Buy presses (click ids, in time order) from their own small index, which
    # holds every column it reads, so no event row is read (0029; 2 % of the events in the benchmark).
    __table_args__ = (
        Index("ix_event_episode_type", "episode_id", "type"),
        Index("ix_event_placement_type_time", "placement_id", "type", "occurred_at"),
        Index(
            "ix_event_buy_press",
            "placement_id",
            "occurred_at",
            "received_at",
            "click_id",
            "type",
            postgresql_where=text(BUY_PRESS_SQL),
            sqlite_where=text(BUY_PRESS_SQL),
        ),
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


# How many rows one placement's count of one event type is spread over: a batch adds to one of them,
# picked at random, so players' batches for a popular hotspot rarely wait on each other's row lock
# (PostgreSQL); the funnel sums them.
COUNT_SLOTS = 8


class EventCount(SQLModel, table=True):
    """How many events of a type a placement has: kept as events are stored (`api.analytics.counting`),
    so the funnel reads a few rows per placement instead of every event (0.5 s per million on
    PostgreSQL, BENCHMARKS.md). `reelcart analytics check` compares them with the events and `recount`
    rebuilds them from the events. Slot 0 holds what a recount or migration 0028 counted. A report for a
    range of days reads `EventDayCount` instead."""

    # Cascading: a placement deleted by any path (a re-tag keeps only placements with events, an older
    # release's episode deletion knows nothing of counts) takes its counts with it.
    placement_id: uuid.UUID = Field(foreign_key="placement.id", primary_key=True, ondelete="CASCADE")
    type: str = Field(max_length=_TYPE_LENGTH, primary_key=True)
    slot: int = Field(primary_key=True, ge=0)
    count: int = Field(default=0, ge=0)


# Which day-count rows are not folded yet (slots beyond 0), as SQL: the condition of their partial index, and
# the one the fold finds them with (literal, as for BUY_PRESS_SQL: SQLite plans before binding).
UNFOLDED_SQL = "slot > 0"


class EventDayCount(SQLModel, table=True):
    """How many events of a type a placement had on one day (the UTC date the event occurred): what a report
    for a range of days sums (`since`/`until` on the analytics routes, migration 0030). Kept with
    `EventCount`, in the same transaction and on the same slot, so a batch waits on no more row locks than
    before. A past day's slots are folded into slot 0 (`api.analytics.counting.fold_day_counts`), so a
    range reads one row per placement, day and type.

    Keyed by placement, then day: a report for a few days reads only those days of each placement, however
    long its history. The unfolded rows (a day or two of them) have a small index of their own, which the
    daily fold finds them by."""

    __table_args__ = (
        Index(
            "ix_eventdaycount_unfolded",
            "day",
            "placement_id",
            postgresql_where=text(UNFOLDED_SQL),
            sqlite_where=text(UNFOLDED_SQL),
        ),
    )

    placement_id: uuid.UUID = Field(foreign_key="placement.id", primary_key=True, ondelete="CASCADE")
    day: date = Field(primary_key=True)
    type: str = Field(max_length=_TYPE_LENGTH, primary_key=True)
    slot: int = Field(primary_key=True, ge=0)
    count: int = Field(default=0, ge=0)
