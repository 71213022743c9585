"""Episodes (the media we tag) and the jobs that tag them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Index, String, text
from sqlmodel import Field, SQLModel

from api.columns import created_at_field, id_field, json_field, optional_timestamp_field
from api.jobs.models import JobPhase, JobState


class EpisodeStatus(StrEnum):
    # Its video is being made browser-playable by a transcode job: not yet tagged, played or served.
    PROCESSING = "processing"
    # The transcode failed (`media_error` says why): nothing can be done with the episode.
    UNPLAYABLE = "unplayable"
    REGISTERED = "registered"
    TAGGING = "tagging"
    TAGGED = "tagged"
    FAILED = "failed"


class Episode(SQLModel, table=True):
    # One episode per brand and upload `Idempotency-Key`: a retried upload finds the first (migration 0022).
    __table_args__ = (
        Index(
            "uq_episode_brand_idempotency_key",
            "brand_id",
            "idempotency_key",
            unique=True,
            sqlite_where=text("idempotency_key IS NOT NULL"),
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )

    id: uuid.UUID = id_field()
    brand_id: uuid.UUID = Field(foreign_key="brand.id", index=True)
    title: str = Field(max_length=300)
    media_path: str = Field(max_length=1000)
    source: str = Field(default="upload", max_length=20)
    size_bytes: int = Field(default=0, ge=0)
    duration_ms: int = Field(ge=0)
    fps: float = Field(ge=0)
    time_base: str = Field(max_length=40)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    rotation: int = Field(default=0)
    codec: str = Field(default="", max_length=40)
    status: EpisodeStatus = Field(default=EpisodeStatus.REGISTERED, sa_type=String(20))
    # Why the video could not be made browser-playable (status `unplayable`).
    media_error: str | None = Field(default=None, max_length=1000)
    # The `Idempotency-Key` the upload was sent with, if any.
    idempotency_key: str | None = Field(default=None, max_length=255)
    # The upload's size as received (null for a server path, and uploads before migration 0024): a retry
    # with the same key must send as many bytes, or it is another upload.
    upload_bytes: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    # The shots the last finished tag job found, [[start_ms, end_ms], ...] in order (`tagger.result.Shot`);
    # None until a tag job since migration 0033 finished. What `GET /v1/episodes/{id}/shots` lists.
    shots: list[list[int]] | None = Field(default=None, sa_type=JSON, nullable=True)
    # The public timeline, precomputed on every placement change so the hot path only reads bytes.
    timeline_json: str = Field(default="")
    timeline_etag: str = Field(default="", max_length=80)
    created_at: datetime = created_at_field()


class TagJob(SQLModel, table=True):
    # One queued or running tag job per episode: two requests that race past the route's check would
    # otherwise both tag it (migration 0019).
    __table_args__ = (
        Index(
            "uq_tagjob_active_episode",
            "episode_id",
            unique=True,
            sqlite_where=text("state IN ('queued', 'running')"),
            postgresql_where=text("state IN ('queued', 'running')"),
        ),
    )

    id: uuid.UUID = id_field()
    brand_id: uuid.UUID = Field(foreign_key="brand.id", index=True)
    episode_id: uuid.UUID = Field(foreign_key="episode.id", index=True)
    state: JobState = Field(default=JobState.QUEUED, sa_type=String(20), index=True)
    progress: float = Field(default=0.0, ge=0.0, le=1.0)
    # The phase the progress belongs to; progress moves through each phase's share of 0..1.
    phase: JobPhase = Field(default=JobPhase.QUEUED, sa_type=String(20))
    error: str | None = Field(default=None)
    # What a finished job found, in one sentence: how many placements and their decisions, or why none.
    summary: str | None = Field(default=None)
    # Wall seconds by phase of the finished run (index, decode, detect, track, locate, link, tag_total);
    # they overlap: link is only the wait for links after detection (`tagger.result.Timing.link_s`).
    seconds: dict[str, float] = json_field(default_factory=dict)
    attempts: int = Field(default=0, ge=0)
    placements_found: int = Field(default=0, ge=0)
    created_at: datetime = created_at_field()
    started_at: datetime | None = optional_timestamp_field()
    finished_at: datetime | None = optional_timestamp_field()
    # Touched every few seconds while a worker runs the job; a running job whose heartbeat stopped
    # belongs to a dead worker and goes back to the queue (api.jobs.recovery).
    heartbeat_at: datetime | None = optional_timestamp_field()
    # When the job's message was handed to the broker; null: not yet, so the supervisor publishes it
    # (api.jobs.recovery) once the broker answers.
    published_at: datetime | None = optional_timestamp_field()


class TranscodeJob(SQLModel, table=True):
    """Making an episode's video browser-playable (H.264 MP4 keeping its frame times), run by a worker
    on the `vision` queue instead of inside the request that registered it: a long upload's transcode
    takes minutes. The episode is `processing` until it is done, `unplayable` if it fails."""

    id: uuid.UUID = id_field()
    brand_id: uuid.UUID = Field(foreign_key="brand.id", index=True)
    episode_id: uuid.UUID = Field(foreign_key="episode.id", index=True)
    # The file to transcode: the upload (ours: deleted once transcoded) or a server path (never touched).
    source_path: str = Field(max_length=1000)
    source_owned: bool = Field(default=True)
    # The name the brand knows the file by, for error messages (never our stored file's name).
    shown_name: str = Field(default="episode", max_length=255)
    state: JobState = Field(default=JobState.QUEUED, sa_type=String(20), index=True)
    progress: float = Field(default=0.0, ge=0.0, le=1.0)
    error: str | None = Field(default=None)
    attempts: int = Field(default=0, ge=0)
    seconds: dict[str, float] = json_field(default_factory=dict)
    created_at: datetime = created_at_field()
    started_at: datetime | None = optional_timestamp_field()
    finished_at: datetime | None = optional_timestamp_field()
    heartbeat_at: datetime | None = optional_timestamp_field()
    published_at: datetime | None = optional_timestamp_field()
