"""Re-link jobs: placements linked again against the brand's current catalog, in the background."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from api.columns import created_at_field, id_field, json_field, optional_timestamp_field
from api.jobs.models import JobState


class LinkJob(SQLModel, table=True):
    """One re-link of a brand's placements, or of one episode's (`episode_id`), or of the placements
    the linker decided that name one product (`product_id`, queued when what the linker reads of the
    product changes), or of all the placements the linker decided (`linker_decided_only`, queued when
    the brand's linking settings change or products arrive), or only an index refresh (`index_only`,
    queued when catalog images are added). Every job first fetches catalog images known only by URL,
    then brings the index up to date: for a large catalog seen for the first time that is most of its
    time."""

    id: uuid.UUID = id_field()
    brand_id: uuid.UUID = Field(foreign_key="brand.id", index=True)
    episode_id: uuid.UUID | None = Field(default=None, foreign_key="episode.id", index=True)
    # Not a foreign key: a job (and its record of what it did) outlives a product deleted meanwhile,
    # whose placements then simply match nothing.
    product_id: uuid.UUID | None = Field(default=None, index=True)
    index_only: bool = Field(default=False)
    # Only the placements the linker decided (awaiting review, or approved by the linker): a change that
    # decides links (settings, marks, a product's words, new products) has nothing to say about a
    # person's decision, so the job spares the work of linking those again.
    linker_decided_only: bool = Field(default=False)
    # Only the brand's linking thresholds changed: each placement linked against the current index has
    # its stored link decided again under them (`tagger.linking.decision.decided`), in milliseconds; the
    # others (the catalog changed since, linked before the inputs were kept, or never asked for the
    # packshots' opinion the new level needs) are linked again from their crops.
    decide_only: bool = Field(default=False)
    state: JobState = Field(default=JobState.QUEUED, sa_type=String(20), index=True)
    progress: float = Field(default=0.0, ge=0.0, le=1.0)
    error: str | None = Field(default=None)
    attempts: int = Field(default=0, ge=0)
    images_fetched: int = Field(default=0, ge=0)
    images_failed: int = Field(default=0, ge=0)
    placements_relinked: int = Field(default=0, ge=0)
    # Placements decided again from their stored link, without linking them again (`decide_only`).
    redecided: int = Field(default=0, ge=0)
    approved: int = Field(default=0, ge=0)
    # Of those, the ones this job approved: awaiting review until its new link passed the brand's bar.
    auto_approved: int = Field(default=0, ge=0)
    # Approvals the linker had made that this job's new link no longer supports: back in review, off the
    # timeline. A person's approval is never withdrawn.
    withdrawn: int = Field(default=0, ge=0)
    # Approvals the linker had made that this job's new link approves as another product (the product it
    # shows joined the catalog): the timeline sells that one now.
    moved: int = Field(default=0, ge=0)
    index_version: str | None = Field(default=None, max_length=80)
    created_at: datetime = created_at_field()
    started_at: datetime | None = optional_timestamp_field()
    finished_at: datetime | None = optional_timestamp_field()
    # Touched every few seconds while a worker runs the job; a running job whose heartbeat stopped
    # belongs to a dead worker and goes back to the queue (api.jobs.recovery).
    heartbeat_at: datetime | None = optional_timestamp_field()
    # Wall seconds by phase of the finished run (fetch, index, link).
    seconds: dict[str, float] = json_field(default_factory=dict)
    # When the job's message was handed to the broker; null: not yet, so the supervisor publishes it
    # (api.jobs.recovery) once the broker answers.
    published_at: datetime | None = optional_timestamp_field()
