"""Executing a TagJob: run the tagger over the episode file and store its placements, or fail cleanly."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, delete
from sqlmodel import Session, col

from api.columns import utcnow
from api.db import session_scope
from api.episodes.models import Episode, EpisodeStatus, TagJob
from api.jobs.models import JobState
from api.jobs.progress import JobProgress
from api.jobs.runner import JobRunner
from api.review.models import Placement, PlacementStatus
from api.settings import ApiSettings
from api.timeline.service import rebuild_timeline
from tagger.exceptions import TaggerError

log = logging.getLogger("reelcart.jobs")

ProgressCallback = Callable[[float], None]


@dataclass(frozen=True)
class PlacementDraft:
    """What the tagger found, in the shape the database stores."""

    start_ms: int
    end_ms: int
    start_frame: int
    end_frame: int
    label: str
    confidence: float
    keyframes: list[dict[str, Any]]
    time_base: str = "1/1000"
    thumbnail_path: str | None = None
    sku_candidates: list[dict[str, Any]] = field(default_factory=list)
    link_confidence: float | None = None
    chosen_product_id: uuid.UUID | None = None
    status: PlacementStatus = PlacementStatus.PROPOSED
    index_version: str | None = None


class TagFunction(Protocol):
    """Tag one episode file. Raises `TaggerError` for media or model problems."""

    def __call__(
        self, media_path: Path, *, brand_id: uuid.UUID, thumbnails_dir: Path, progress: ProgressCallback
    ) -> Sequence[PlacementDraft]: ...


class TagJobExecutor:
    """Handles one job id end to end; safe to call from any worker thread or process."""

    def __init__(self, engine: Engine, settings: ApiSettings, tag_function: TagFunction) -> None:
        self._engine = engine
        self._settings = settings
        self._tag = tag_function
        self._runner = JobRunner(engine, TagJob, "tag job")

    def __call__(self, job_id: uuid.UUID) -> None:
        claimed = self._runner.claim(job_id, self._prepare)
        if claimed is None:
            return
        media_path, brand_id, episode_id = claimed

        def work() -> None:
            drafts = self._tag(
                media_path,
                brand_id=brand_id,
                thumbnails_dir=self._settings.media_dir / "thumbnails" / str(episode_id),
                progress=JobProgress(self._engine, TagJob, job_id).report,
            )
            self._store(job_id, drafts)

        self._runner.run(job_id, work, reasons={TaggerError: str}, fail=partial(self._fail, job_id))

    @staticmethod
    def _prepare(session: Session, job: TagJob) -> tuple[Path, uuid.UUID, uuid.UUID] | None:
        episode = session.get(Episode, job.episode_id)
        if episode is None:
            job.state, job.error, job.finished_at = JobState.FAILED, "episode no longer exists", utcnow()
            return None
        episode.status = EpisodeStatus.TAGGING
        return Path(episode.media_path), episode.brand_id, episode.id

    def _store(self, job_id: uuid.UUID, drafts: Sequence[PlacementDraft]) -> None:
        with session_scope(self._engine) as session:
            job = session.get(TagJob, job_id)
            if job is None:
                return
            episode = session.get(Episode, job.episode_id)
            if episode is None:
                return
            # A re-tag replaces what the machine proposed before; human decisions are kept.
            session.execute(
                delete(Placement).where(
                    col(Placement.episode_id) == episode.id, col(Placement.status) == PlacementStatus.PROPOSED
                )
            )
            for draft in drafts:
                session.add(
                    Placement(
                        brand_id=episode.brand_id,
                        episode_id=episode.id,
                        tag_job_id=job.id,
                        start_ms=draft.start_ms,
                        end_ms=draft.end_ms,
                        start_frame=draft.start_frame,
                        end_frame=draft.end_frame,
                        time_base=draft.time_base,
                        label=draft.label,
                        confidence=draft.confidence,
                        keyframes=draft.keyframes,
                        sku_candidates=draft.sku_candidates,
                        link_confidence=draft.link_confidence,
                        chosen_product_id=draft.chosen_product_id,
                        status=draft.status,
                        thumbnail_path=draft.thumbnail_path,
                        index_version=draft.index_version,
                    )
                )
            job.state, job.progress, job.finished_at = JobState.DONE, 1.0, utcnow()
            job.placements_found, job.error = len(drafts), None
            episode.status = EpisodeStatus.TAGGED
            session.flush()
            rebuild_timeline(session, episode, self._settings)

    def _fail(self, job_id: uuid.UUID, reason: str) -> None:
        with session_scope(self._engine) as session:
            job = session.get(TagJob, job_id)
            if job is None:
                return
            job.state, job.error, job.finished_at = JobState.FAILED, reason, utcnow()
            episode = session.get(Episode, job.episode_id)
            if episode is not None:
                episode.status = EpisodeStatus.FAILED
