"""Re-link job bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class LinkJobPublic(BaseModel):
    id: uuid.UUID
    episode_id: uuid.UUID | None = Field(description="The episode re-linked; null for the whole brand")
    state: str = Field(description="queued, running, done or failed")
    progress: float
    error: str | None
    attempts: int
    placements_relinked: int
    approved: int = Field(description="Placements approved after the job (machine or human decisions)")
    index_version: str | None = Field(description="The catalog index version the placements were linked with")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class LinkJobPage(BaseModel):
    items: list[LinkJobPublic]
    total: int
