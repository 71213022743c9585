"""Re-link job bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class LinkJobPublic(BaseModel):
    id: uuid.UUID
    episode_id: uuid.UUID | None = Field(description="The episode re-linked; null for the whole brand")
    product_id: uuid.UUID | None = Field(
        default=None,
        description="Set when a change to what the linker reads of this product (its own-print marks, "
        "title, vendor, description or variant names) queued the job: only the placements awaiting review "
        "with the product among their candidates are re-linked",
    )
    awaiting_review_only: bool = Field(
        default=False,
        description="Only placements awaiting review are re-linked (a product's job, or one queued by a "
        "change to the brand's linking settings); approved and rejected ones are left as they are",
    )
    index_only: bool = Field(
        description="Only fetch and index catalog images (queued when images are added); no re-link"
    )
    state: str = Field(description="queued, running, done or failed")
    progress: float
    error: str | None
    attempts: int
    images_fetched: int = Field(description="Catalog images known by URL that this job downloaded")
    images_failed: int = Field(
        description="Image URLs that could not be fetched (see the image's fetch_error)"
    )
    placements_relinked: int
    approved: int = Field(description="Placements approved after the job (machine or human decisions)")
    auto_approved: int = Field(
        default=0,
        description="Of those, the ones this job approved: awaiting review until their new link passed "
        "the brand's bar (they are on the timeline now)",
    )
    index_version: str | None = Field(description="The catalog index version the placements were linked with")
    seconds: dict[str, float] = Field(
        description="Once finished: wall seconds by phase (fetch, index, link, store)"
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class LinkJobPage(BaseModel):
    items: list[LinkJobPublic]
    total: int
