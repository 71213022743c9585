"""Bodies for catalog sync from a provider, and for the catalog's background jobs."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from api.brands.models import CheckoutProviderName
from commerce.catalog import SyncReport


class SyncFailure(BaseModel):
    provider_id: str
    reason: str


class SyncReportPublic(BaseModel):
    provider: CheckoutProviderName
    full: bool
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    removed: list[str]
    failed: list[SyncFailure]
    seen: int

    @classmethod
    def from_report(cls, report: SyncReport) -> SyncReportPublic:
        return cls(
            provider=CheckoutProviderName(report.provider),
            full=report.full,
            created=list(report.created),
            updated=list(report.updated),
            unchanged=list(report.unchanged),
            removed=list(report.removed),
            failed=[SyncFailure(provider_id=item.provider_id, reason=item.reason) for item in report.failed],
            seen=report.seen,
        )


class SyncJobPublic(BaseModel):
    id: uuid.UUID
    provider: CheckoutProviderName
    full: bool = Field(description="Read everything and remove what the provider no longer has")
    state: str = Field(description="queued, running, done or failed")
    progress: float
    error: str | None
    attempts: int
    report: SyncReportPublic | None = Field(description="Once done: what the sync created, updated, removed")
    seconds: dict[str, float] = Field(description="Once done: wall seconds by phase (sync)")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class SyncJobPage(BaseModel):
    items: list[SyncJobPublic]
    total: int


class ImageFetchJobPublic(BaseModel):
    id: uuid.UUID
    state: str = Field(description="queued, running, done or failed")
    progress: float
    error: str | None
    attempts: int
    images_fetched: int = Field(description="Catalog images known by URL that this job downloaded")
    images_failed: int = Field(
        description="Image URLs that could not be fetched (see the image's fetch_error)"
    )
    seconds: dict[str, float] = Field(description="Once done: wall seconds by phase (fetch)")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ImageFetchJobPage(BaseModel):
    items: list[ImageFetchJobPublic]
    total: int
