"""The published timeline contract (version 1): what `GET /v1/episodes/{id}/timeline` answers.

The stored document is built by `api.timeline.service` and checked against this schema in the tests;
`web_overlay/types.d.ts` declares the same shapes for the overlay SDK, and `make test` holds the two
to each other (tests/api/test_timeline_contract.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TimelineVariant(_Closed):
    id: str
    sku: str
    title: str
    price: str = Field(description='Decimal string in the currency\'s units, e.g. "4.99"', examples=["4.99"])
    currency: str = Field(description="ISO 4217 code", examples=["EUR"])
    available: bool


class TimelineProduct(_Closed):
    id: str
    title: str
    brand: str
    image_url: str | None
    variants: list[TimelineVariant]


class TimelineKeyframe(_Closed):
    t_ms: int
    box: list[float] = Field(
        min_length=4,
        max_length=4,
        description="[x, y, w, h] normalized to the displayed frame, top-left origin",
    )


class TimelinePlacement(_Closed):
    id: str
    start_ms: int
    end_ms: int
    label: str
    keyframes: list[TimelineKeyframe]
    product: TimelineProduct


class TimelineEpisode(_Closed):
    id: str
    duration_ms: int
    width: int
    height: int


class TimelineV1(_Closed):
    """Approved placements that show a product, earliest first."""

    version: Literal[1]
    episode: TimelineEpisode
    placements: list[TimelinePlacement]
