"""Episode, tag-job and timeline bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.types import Text


class EpisodeFromPath(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: Text = Field(min_length=1, max_length=300)
    path: Text = Field(
        min_length=1, max_length=1000, description="A file on the server, under an allowed root"
    )


class EpisodePublic(BaseModel):
    id: uuid.UUID
    title: str
    status: str = Field(
        description="processing (its video is being made browser-playable: see `transcode_job`; "
        "nothing can be tagged or played yet), unplayable (that failed: `media_error` says why), "
        "registered, tagging, tagged, failed (its last tag job failed)"
    )
    media_error: str | None = Field(
        default=None, description="Why the video could not be made browser-playable (status unplayable)"
    )
    transcode_job: str | None = Field(
        default=None,
        description="Where the transcode job that makes the video browser-playable is read, while the "
        "episode is processing or became unplayable",
    )
    source: str
    size_bytes: int
    duration_ms: int
    fps: float
    time_base: str
    width: int
    height: int
    rotation: int
    codec: str
    timeline_url: str
    video_url: str | None = Field(
        default=None,
        description="Where a browser plays the episode (a signed URL, valid for a while: read it again "
        "from this resource rather than keeping it); null while its video is not playable",
    )
    created_at: datetime


class EpisodePage(BaseModel):
    items: list[EpisodePublic]
    total: int
    limit: int
    offset: int


class TagJobPublic(BaseModel):
    id: uuid.UUID
    episode_id: uuid.UUID
    state: str
    phase: str = Field(
        description="What the job is doing: queued, index (the catalog), detect (decode, detect, track), "
        "link, store, finished; `progress` moves through each phase's share of 0..1"
    )
    progress: float
    error: str | None
    summary: str | None = Field(
        description="Once finished: how many placements and what became of them, or why none were found"
    )
    seconds: dict[str, float] = Field(
        description="Once finished: wall seconds by phase (index, decode, detect, track, locate, link, "
        "tag_total; decoding runs beside detection and each shot is linked beside the next shots' "
        "detection, so the phases overlap: link is the wait for links after detection, tag_total the "
        "rest of the job after the index)"
    )
    attempts: int
    placements_found: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class TagJobPage(BaseModel):
    items: list[TagJobPublic]
    total: int


class TranscodeJobPublic(BaseModel):
    id: uuid.UUID
    episode_id: uuid.UUID
    state: str
    progress: float
    error: str | None
    seconds: dict[str, float] = Field(description="Once finished: wall seconds by phase (transcode, probe)")
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class TranscodeJobPage(BaseModel):
    items: list[TranscodeJobPublic]
    total: int
