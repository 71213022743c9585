"""Placement and review bodies (the contract the review console is built on)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Keyframe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    t_ms: int = Field(ge=0)
    box: list[float] = Field(min_length=4, max_length=4, description="[x, y, w, h], normalized 0..1")

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
    product_id: uuid.UUID
    variant_id: uuid.UUID | None = None
    title: str
    confidence: float


class PlacementPublic(BaseModel):
    id: uuid.UUID
    episode_id: uuid.UUID
    status: str
    label: str
    confidence: float
    link_confidence: float | None
    start_ms: int
    end_ms: int
    start_frame: int
    end_frame: int
    keyframes: list[dict[str, Any]]
    thumbnail_url: str | None
    video_url: str
    sku_candidates: list[dict[str, Any]]
    chosen_product_id: uuid.UUID | None
    chosen_product_title: str | None
    version: int
    updated_at: datetime


class ReviewQueuePage(BaseModel):
    items: list[PlacementPublic]
    next_cursor: str | None
    total: int


class PlacementPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_ms: int | None = Field(default=None, ge=0)
    end_ms: int | None = Field(default=None, ge=0)
    chosen_product_id: uuid.UUID | None = None
    keyframes: list[Keyframe] | None = Field(default=None, min_length=1, max_length=2000)


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: uuid.UUID | None = Field(
        default=None, description="Link to this product; default: the top candidate"
    )


class BulkApprove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_confidence: float = Field(ge=0.0, le=1.0)
    episode_id: uuid.UUID | None = None


class BulkApproveResult(BaseModel):
    approved: int
    placement_ids: list[uuid.UUID]


class ReviewActionPublic(BaseModel):
    actor: str
    action: str
    at: datetime
    before: dict[str, Any]
    after: dict[str, Any]
