"""A brand's trained detectors and the jobs that train them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, text
from sqlmodel import Field, SQLModel

from api.columns import created_at_field, id_field, json_field, optional_timestamp_field
from api.jobs.models import JobPhase, JobState

# At most one queued or running train job per brand, enforced by the database: two requests that
# race past the route's check cannot both insert one.
_ACTIVE = text("state IN ('queued', 'running')")


class BrandDetector(SQLModel, table=True):
    """A trained detector registered for a brand: its card and model file, both under the model dir.
    Registered only once the model loads and matches its card's sha256; the newest is the one used."""

    id: uuid.UUID = id_field()
    brand_id: uuid.UUID = Field(foreign_key="brand.id", index=True)
    name: str = Field(max_length=120)  # the card's name, e.g. brand-acme-2
    card_path: str = Field(max_length=1000)
    sha256: str = Field(max_length=64)
    classes: int = Field(ge=1)
    # What the catalog was when it was trained (products and their images): a catalog that no longer
    # matches it makes the detector stale (see api.detectors.service.is_stale).
    catalog_fingerprint: str = Field(max_length=64)
    # From the card: metrics on the held-out synthetic split, and training seconds.
    metrics: dict[str, float] = json_field(default_factory=dict)
    train_job_id: uuid.UUID | None = Field(default=None)
    created_at: datetime = created_at_field()


class DetectorTrainJob(SQLModel, table=True):
    __table_args__ = (
        Index(
            "uq_detectortrainjob_active_brand",
            "brand_id",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
    )

    id: uuid.UUID = id_field()
    brand_id: uuid.UUID = Field(foreign_key="brand.id", index=True)
    state: JobState = Field(default=JobState.QUEUED, sa_type=String(20), index=True)
    progress: float = Field(default=0.0, ge=0.0, le=1.0)
    # synthesise, train, export, register: what the trainer says it is doing.
    phase: JobPhase = Field(default=JobPhase.QUEUED, sa_type=String(20))
    message: str | None = Field(default=None, max_length=300)
    error: str | None = Field(default=None)
    attempts: int = Field(default=0, ge=0)
    products: int = Field(default=0, ge=0)
    detector_id: uuid.UUID | None = Field(default=None, foreign_key="branddetector.id")
    seconds: float | None = Field(default=None, ge=0)
    created_at: datetime = created_at_field()
    started_at: datetime | None = optional_timestamp_field()
    finished_at: datetime | None = optional_timestamp_field()
    heartbeat_at: datetime | None = optional_timestamp_field()
    # When the job's message was handed to the broker; null: not yet, so the supervisor publishes it
    # (api.jobs.recovery) once the broker answers.
    published_at: datetime | None = optional_timestamp_field()
