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
        "title, vendor, description, variant names or images) queued the job: only the placements the "
        "linker decided (awaiting review, or approved by the linker) with the product among their "
        "candidates are re-linked",
    )
    linker_decided_only: bool = Field(
        default=False,
        description="Only the placements the linker decided are re-linked: those awaiting review and the "
        "ones the linker approved (a product's job, or one queued by a change to the brand's linking "
        "settings or by new products); a person's approvals and rejections are left as they are",
    )
    decide_only: bool = Field(
        default=False,
        description="Queued by a change to the brand's linking thresholds: each placement linked against "
        "the catalog index as it is now has its stored link decided again under the new thresholds without "
        "being linked again (see redecided); the others (the catalog changed since they were linked, or "
        "their stored link cannot say) are linked again from their crops",
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
    placements_relinked: int = Field(description="Placements linked again from their stored crops")
    redecided: int = Field(
        default=0,
        description="Placements whose stored link was decided again under the brand's new thresholds, "
        "without linking it again (a decide_only job); placements_relinked counts the others",
    )
    approved: int = Field(description="Placements approved after the job (machine or human decisions)")
    auto_approved: int = Field(
        default=0,
        description="Of those, the ones this job approved: awaiting review until their new link passed "
        "the brand's bar (they are on the timeline now)",
    )
    withdrawn: int = Field(
        default=0,
        description="Approvals the linker had made that the job's new link no longer supports (the brand "
        "raised its bar, the product's words or marks changed, the product shown joined the catalog): "
        "back in review and off the timeline. A person's approval is never withdrawn",
    )
    moved: int = Field(
        default=0,
        description="Approvals the linker had made that the job's new link approves as another product "
        "(typically the product a placement shows joined the catalog, and its sibling had been approved): "
        "the timeline sells the new one",
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
