"""Placements (a product on screen for a time span) and the audit trail of their review."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, String, false, text
from sqlmodel import Field, SQLModel

from api.columns import created_at_field, id_field, json_field, optional_timestamp_field
from api.jobs.models import JobState

EVIDENCE_MAX_CHARS = 500


class PlacementStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"


class Placement(SQLModel, table=True):
    __table_args__ = (
        Index("ix_placement_episode_status_start", "episode_id", "status", "start_ms"),
        Index("ix_placement_brand_status_link_confidence", "brand_id", "status", "link_confidence"),
        # One drawing per episode and `Idempotency-Key`: a retried request answers the first (migration 0032).
        Index(
            "uq_placement_episode_idempotency_key",
            "episode_id",
            "idempotency_key",
            unique=True,
            sqlite_where=text("idempotency_key IS NOT NULL"),
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )

    id: uuid.UUID = id_field()
    brand_id: uuid.UUID = Field(foreign_key="brand.id")
    episode_id: uuid.UUID = Field(foreign_key="episode.id")
    tag_job_id: uuid.UUID | None = Field(default=None, foreign_key="tagjob.id")
    start_ms: int = Field(ge=0)
    end_ms: int = Field(ge=0)
    start_frame: int = Field(ge=0)
    end_frame: int = Field(ge=0)
    time_base: str = Field(default="1/1000", max_length=40)
    label: str = Field(max_length=100)
    confidence: float = Field(ge=0.0, le=1.0)
    # [{"t_ms": int, "box": [x, y, w, h]}] with boxes normalized to the displayed frame.
    keyframes: list[dict[str, Any]] = json_field(default_factory=list)
    # [{"product_id", "variant_id", "title", "confidence"}], best first.
    sku_candidates: list[dict[str, Any]] = json_field(default_factory=list)
    # Calibrated probability that the top candidate is right (None until linked); the review queue
    # sorts on it, lowest first.
    link_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    # The linker's reason, in a reviewer's words: which print evidence approved the link, or why a
    # confident one was left for review ("its print reads 'apple', which its catalog text lacks").
    link_evidence: str | None = Field(default=None, max_length=EVIDENCE_MAX_CHARS)
    # The crops contradicted the top SKU (another variant's name on its print, its print in other
    # colours): bulk approval leaves it to a person, however confident the link.
    link_contradicted: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # The confidence the link needed to be approved: the brand's auto-approve threshold, or its own-print
    # level when the crops confirmed the product's marked own print (tagger.linking.LinkThresholds).
    link_approval_level: float | None = Field(default=None, ge=0.0, le=1.0)
    # What the link's decision weighed besides the brand's thresholds (tagger.linking.DecisionInputs,
    # stored form): a change of those thresholds decides the link again from it, without its crops.
    # None for links made before it was kept (they are linked again from their crops).
    link_inputs: dict[str, Any] | None = Field(default=None, sa_type=JSON, nullable=True)
    chosen_product_id: uuid.UUID | None = Field(default=None, foreign_key="product.id")
    status: PlacementStatus = Field(default=PlacementStatus.PROPOSED, sa_type=String(20))
    # Approved by the linker, not by a person: a later re-link (the brand raised its bar, a product's
    # words or marks changed, a sibling joined the catalog) decides it again and may withdraw it. Any
    # person's action on the placement makes the decision theirs (False), and no re-link touches it.
    approved_by_linker: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # Drawn by a person (`POST /v1/episodes/{id}/placements`), not found by the tagger: it has no crops,
    # so no re-link reads it, and a re-tag keeps it.
    drawn_by_hand: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # The `Idempotency-Key` a drawing was sent with, if any.
    idempotency_key: str | None = Field(default=None, max_length=255)
    thumbnail_path: str | None = Field(default=None, max_length=1000)
    index_version: str | None = Field(default=None, max_length=80)
    # Bumped on every change; the review console sends it back as If-Match.
    version: int = Field(default=1, ge=1)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


# The actor of the history entries a re-link writes when it changes the linker's own decision (approves,
# withdraws or moves a placement). People's actors are `key:<name>` (api.auth.Principal), so it never
# names one; what people did is every action by another actor.
LINKER_ACTOR = "linker"
# The action of the entry a product's deletion writes on each placement that had chosen it (back in
# review, off the timeline), whoever deleted it (a person's key, or a catalog sync): it decides nothing
# about the placement, so like the linker's entries it does not make the placement a person's.
PRODUCT_DELETED = "product-deleted"
# Who deleted a product that disappeared from the brand's shop (a sync or a product webhook).
CATALOG_SYNC_ACTOR = "catalog sync"


class ReviewAction(SQLModel, table=True):
    id: uuid.UUID = id_field()
    brand_id: uuid.UUID = Field(foreign_key="brand.id", index=True)
    placement_id: uuid.UUID = Field(foreign_key="placement.id", index=True)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=40)
    before: dict[str, Any] = json_field(default_factory=dict)
    after: dict[str, Any] = json_field(default_factory=dict)
    at: datetime = created_at_field()


def placement_snapshot(placement: Placement) -> dict[str, Any]:
    """What a history entry records of a placement before and after an action."""
    return {
        "status": str(placement.status),
        "start_ms": placement.start_ms,
        "end_ms": placement.end_ms,
        "chosen_product_id": str(placement.chosen_product_id) if placement.chosen_product_id else None,
        "keyframes": placement.keyframes,
    }


def history_entry(
    placement: Placement, actor: str, action: str, before: dict[str, Any], why: dict[str, Any] | None = None
) -> ReviewAction:
    """`actor`'s entry in a placement's history: `action`, from `before` to the placement as it is now
    (with `why` beside it in `after`, when the actor says why)."""
    return ReviewAction(
        brand_id=placement.brand_id,
        placement_id=placement.id,
        actor=actor,
        action=action,
        before=before,
        after=placement_snapshot(placement) | (why or {}),
    )


def linker_action(placement: Placement, action: str, before: dict[str, Any]) -> ReviewAction:
    """The linker's entry in a placement's history (`LINKER_ACTOR`): it approved it (at tagging, or in a
    re-link), withdrew or moved it, from `before` to the placement as it is now, with why (`linker_why`):
    the placement keeps only its latest link's reason, which the next re-link overwrites."""
    return history_entry(placement, LINKER_ACTOR, action, before, why=linker_why(placement))


def linker_why(placement: Placement) -> dict[str, Any]:
    """What the linker's decision rested on, as its history entry keeps it: the link's confidence, the
    level it needed (the brand's bar, or its own-print level) and the linker's reason in words."""
    return {
        "link_confidence": placement.link_confidence,
        "link_approval_level": placement.link_approval_level,
        "link_evidence": placement.link_evidence,
    }


# The actor of the history entry a follow job writes when it stores the boxes it found.
FOLLOWER_ACTOR = "follower"


class FollowJob(SQLModel, table=True):
    """Following a drawn placement's box through its span (`tagger.follow`), run by a worker on the
    `vision` queue: decoding the episode takes seconds, never work for a request. It stores the boxes only
    if the placement is still the version it was queued against: a person's edit since wins."""

    # One queued or running follow job per placement: two would write the same boxes twice.
    __table_args__ = (
        Index(
            "uq_followjob_active_placement",
            "placement_id",
            unique=True,
            sqlite_where=text("state IN ('queued', 'running')"),
            postgresql_where=text("state IN ('queued', 'running')"),
        ),
    )

    id: uuid.UUID = id_field()
    brand_id: uuid.UUID = Field(foreign_key="brand.id", index=True)
    episode_id: uuid.UUID = Field(foreign_key="episode.id", index=True)
    placement_id: uuid.UUID = Field(foreign_key="placement.id", index=True)
    placement_version: int = Field(ge=1)
    # The box followed, [x, y, w, h] normalized, and the moment it was drawn at.
    box: list[float] = json_field(default_factory=list)
    at_ms: int = Field(ge=0)
    state: JobState = Field(default=JobState.QUEUED, sa_type=String(20), index=True)
    progress: float = Field(default=0.0, ge=0.0, le=1.0)
    error: str | None = Field(default=None)
    # What it did, in a reviewer's words ("followed in 24 of 26 frames looked at: 3 keyframes stored").
    summary: str | None = Field(default=None, max_length=500)
    keyframes: int = Field(default=0, ge=0)
    attempts: int = Field(default=0, ge=0)
    seconds: dict[str, float] = json_field(default_factory=dict)
    created_at: datetime = created_at_field()
    started_at: datetime | None = optional_timestamp_field()
    finished_at: datetime | None = optional_timestamp_field()
    heartbeat_at: datetime | None = optional_timestamp_field()
    published_at: datetime | None = optional_timestamp_field()
