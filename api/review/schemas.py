"""Placement and review bodies (the contract the review console is built on)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, StrictFloat, field_validator

# The largest time a placement stores: its ms columns are 32-bit integers on PostgreSQL (an episode's
# length caps a span too, but an episode probed without one would let any number through to a 500).
MAX_MS = 2**31 - 1


class Keyframe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    t_ms: int = Field(ge=0, le=MAX_MS)
    # Finite: JSON bodies are read with `json.loads`, which takes NaN and Infinity, and every comparison
    # with NaN is false, so a NaN box passed the frame check and was published into the timeline as
    # JSON no browser parses (every player lost the episode's hotspots).
    box: list[FiniteFloat] = Field(min_length=4, max_length=4, description="[x, y, w, h], normalized 0..1")

    @field_validator("box")
    @classmethod
    def _inside_frame(cls, box: list[float]) -> list[float]:
        x, y, w, h = box
        if w <= 0 or h <= 0:
            raise ValueError("box width and height must be positive")
        if x < 0 or y < 0 or x + w > 1.0001 or y + h > 1.0001:
            raise ValueError("box must lie inside the frame (normalized 0..1)")
        return box


class SkuCandidate(BaseModel):
    """One of the linker's guesses, best first, with what a reviewer compares against the crop. The
    linker stores product id, variant id, title and confidence; the rest is read from the catalog when
    the placement is served."""

    product_id: uuid.UUID
    variant_id: uuid.UUID | None = None
    title: str = Field(
        description="The product's title in the catalog now (the linker's copy if the product is gone)"
    )
    confidence: float
    variant_title: str | None = Field(default=None, description="The linked variant's title, e.g. `330 ml`")
    sku: str | None = Field(default=None, description="The linked variant's SKU")
    image_url: str | None = Field(
        default=None,
        description="The product's first image (its packshot), a URL the browser loads as is: ReelCart "
        "serves held images publicly at /v1/images/{id}, as the overlay does; referenced ones keep their URL",
    )

    def stored(self) -> dict[str, Any]:
        """The JSON a placement row keeps: what the linker decided, not what the catalog says now."""
        return self.model_dump(mode="json", include=STORED_CANDIDATE_FIELDS)


# The linker's part of a candidate; the catalog's (variant title, SKU, image) is added when served.
STORED_CANDIDATE_FIELDS = {"product_id", "variant_id", "title", "confidence"}


class PlacementPublic(BaseModel):
    id: uuid.UUID
    episode_id: uuid.UUID
    status: str
    label: str
    confidence: float
    link_confidence: float | None
    link_evidence: str | None = Field(
        description="The linker's reason: the print evidence an approval rested on, or why a link was "
        "left for review (e.g. its print names another variant); null when the placement was never linked"
    )
    link_contradicted: bool = Field(
        description="The crops showed another product (another variant's name on its print, its print in "
        "other colours): bulk approval skips it, whatever its confidence"
    )
    link_approval_level: float | None = Field(
        default=None,
        description="The link confidence that approval needed: the brand's auto_approve_threshold, or its "
        "own_print_auto_approve when the crops confirmed the product's marked own print; null for a "
        "placement never linked, or linked before this was recorded",
    )
    approved_by_linker: bool = Field(
        default=False,
        description="Approved by the linker, not by a person: a re-link (a raised auto-approve level, a "
        "product's words or marks changed, a sibling added to the catalog) may withdraw it. Any review "
        "action makes the decision the reviewer's",
    )
    drawn_by_hand: bool = Field(
        default=False,
        description="Drawn by a person (POST /v1/episodes/{id}/placements), not found by the tagger: "
        "never linked (no candidates, no crops), so no re-link touches it and a re-tag keeps it",
    )
    start_ms: int
    end_ms: int
    start_frame: int
    end_frame: int
    keyframes: list[dict[str, Any]]
    thumbnail_url: str | None
    video_url: str
    episode_title: str | None = Field(description="The title of the episode the placement is in")
    sku_candidates: list[SkuCandidate]
    chosen_product_id: uuid.UUID | None
    chosen_product_title: str | None
    chosen_product_image_url: str | None = Field(description="The chosen product's first image")
    link_floor: float = Field(
        description="The brand's link floor now: a link below it is an unknown product (GET /v1/brands/me)"
    )
    unknown_product: bool = Field(
        description="No candidate reaches the brand's link floor (or there is none): the linker does not "
        "know this product, so approving it needs a product picked by a person"
    )
    approve_product_id: uuid.UUID | None = Field(
        description="What `POST …/approve` without a `product_id` publishes: the chosen product, else the "
        "top candidate when the link reaches the floor; null when approving needs an explicit `product_id`"
    )
    version: int
    updated_at: datetime


class ReviewQueuePage(BaseModel):
    items: list[PlacementPublic]
    next_cursor: str | None
    total: int


class PlacementPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_ms: int | None = Field(default=None, ge=0, le=MAX_MS)
    end_ms: int | None = Field(default=None, ge=0, le=MAX_MS)
    chosen_product_id: uuid.UUID | None = None
    keyframes: list[Keyframe] | None = Field(default=None, min_length=1, max_length=2000)


class PlacementCreate(BaseModel):
    """A product the tagger did not find, added by a person: where it is and what it sells."""

    model_config = ConfigDict(extra="forbid")

    product_id: uuid.UUID = Field(description="The product its hotspot sells (one of yours, with a variant)")
    start_ms: int = Field(ge=0, le=MAX_MS, description="When it comes into view")
    end_ms: int = Field(gt=0, le=MAX_MS, description="When it leaves (after start_ms, within the episode)")
    keyframes: list[Keyframe] = Field(
        min_length=1,
        max_length=2000,
        description="Its box at one or more moments within the span, [x, y, w, h] normalized to the "
        "displayed frame; between and beyond them the player holds or interpolates the box, as for the "
        "tagger's placements",
    )


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: uuid.UUID | None = Field(
        default=None,
        description="Link to this product; default: the chosen product, else the top candidate when the "
        "link reaches the brand's floor (below it, or without a candidate, a product is required)",
    )


class BulkApprove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_confidence: StrictFloat = Field(
        ge=0.0,
        le=1.0,
        description="Approve proposals linked at least this confidently; not below the brand's link floor "
        "(links below it are unknown products: each needs a product picked by a person)",
    )
    episode_id: uuid.UUID | None = None


class BulkApproveResult(BaseModel):
    approved: int
    placement_ids: list[uuid.UUID]
    skipped_contradicted: int = Field(
        description="Proposals at or above min_confidence left for a person: their crops showed another "
        "product (`link_contradicted`)"
    )


class ReviewActionPublic(BaseModel):
    actor: str = Field(
        description="Who acted: `key:<name>` for a person's API key, `linker` for ReelCart's linker (its "
        "approvals at tagging and the approvals, withdrawals and moves of later re-links)"
    )
    action: str
    at: datetime
    before: dict[str, Any]
    after: dict[str, Any]


class ShotPublic(BaseModel):
    start_ms: int
    end_ms: int
    approved: int = Field(
        description="Placements approved in it: hotspots players show (a placement counts in "
        "the shot it overlaps most)"
    )
    proposed: int = Field(description="Placements in it awaiting review")


class EpisodeShots(BaseModel):
    episode_id: uuid.UUID
    shots: list[ShotPublic] | None = Field(
        description="The shots the episode's last finished tag job found, in order; null when no tag job "
        "finished since ReelCart kept them (tag the episode again)"
    )
    without_hotspot: int = Field(
        description="Shots with no approved placement: where to look for a product the tagger missed (a shot "
        "that shows none needs nothing)"
    )


class FollowBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    t_ms: int | None = Field(
        default=None,
        ge=0,
        le=MAX_MS,
        description="Follow the box of the keyframe nearest this moment (default: the placement's first "
        "keyframe, the one a person drew)",
    )


class FollowJobPublic(BaseModel):
    id: uuid.UUID
    episode_id: uuid.UUID
    placement_id: uuid.UUID
    state: str
    progress: float
    error: str | None
    summary: str | None = Field(
        description="What it did: in how many of the frames it looked at it found the product, and the "
        "keyframes it stored; or why it stored none (the box has too little texture, the placement was "
        "edited since the job was queued)"
    )
    keyframes: int = Field(description="Keyframes stored on the placement (0: none)")
    box: list[float] = Field(description="The box it followed, [x, y, w, h]")
    at_ms: int = Field(description="The moment of that box")
    seconds: dict[str, float] = Field(description="Once finished: wall seconds by phase (follow, store)")
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class FollowJobPage(BaseModel):
    items: list[FollowJobPublic]
    total: int
