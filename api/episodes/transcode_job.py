"""The transcode job: an episode's video made browser-playable by a worker, never inside a request.

The episode is `processing` from its registration until the job is done; then it points at the H.264
MP4 (its size, times and codec as probed from it) and is `registered`, ready to tag and to play. A
video that cannot be converted leaves the episode `unplayable` with the reason in `media_error`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from api.columns import utcnow
from api.db import session_scope
from api.episodes.exceptions import UnusableMedia
from api.episodes.models import Episode, EpisodeStatus, TranscodeJob
from api.episodes.service import media_fields, probe_or_422, transcode_into_media
from api.jobs.lease import LeaseLostError, held_lease, require_lease
from api.jobs.models import JobState
from api.jobs.phases import PhaseClock
from api.jobs.progress import JobProgress
from api.jobs.runner import JobRunner
from api.settings import ApiSettings
from api.timeline.service import rebuild_timeline


@dataclass(frozen=True)
class TranscodeScope:
    episode_id: uuid.UUID
    source: Path
    owned: bool
    shown_name: str
    attempt: int


class TranscodeJobExecutor:
    def __init__(self, engine: Engine, settings: ApiSettings) -> None:
        self._engine, self._settings = engine, settings
        self._runner = JobRunner(engine, settings, TranscodeJob, "transcode job")

    def __call__(self, job_id: uuid.UUID) -> None:
        scope = self._runner.claim(
            job_id,
            lambda _session, job: TranscodeScope(
                job.episode_id, Path(job.source_path), job.source_owned, job.shown_name, job.attempts
            ),
        )
        if scope is None:
            return
        self._runner.run(
            job_id,
            scope.attempt,
            lambda: self._run(job_id, scope),
            # A video FFmpeg cannot convert is the job's own failure, said in the sender's words.
            reasons={UnusableMedia: lambda error: str(getattr(error, "detail", error)), LeaseLostError: str},
            fail=partial(self._fail, job_id, scope),
        )

    def _run(self, job_id: uuid.UUID, scope: TranscodeScope) -> None:
        clock = PhaseClock()
        progress = JobProgress(self._engine, TranscodeJob, job_id, scope.attempt)
        with clock.phase("transcode"):
            # The source is kept until the episode points at the transcode: an attempt that dies in
            # between leaves the upload for the next attempt, never an episode without a file.
            try:
                kept = transcode_into_media(
                    scope.source,
                    self._settings,
                    owned=False,
                    shown_name=scope.shown_name,
                    on_progress=progress.report,
                )
            except UnusableMedia:
                # The video itself does not convert (any attempt would fail alike): nothing can be done
                # with the upload, and the brand sends another file. Any other failure keeps it.
                if scope.owned:
                    scope.source.unlink(missing_ok=True)
                raise
        try:
            with clock.phase("probe"):
                info = probe_or_422(kept, scope.shown_name)
            with session_scope(self._engine) as session:
                job = require_lease(session, TranscodeJob, job_id, scope.attempt, writing="the transcode")
                episode = session.get_one(Episode, scope.episode_id)
                episode.sqlmodel_update(media_fields(kept, info))
                if episode.status == EpisodeStatus.PROCESSING:
                    episode.status, episode.media_error = EpisodeStatus.REGISTERED, None
                session.add(episode)
                session.flush()
                rebuild_timeline(session, episode, self._settings)
                job.state, job.progress, job.finished_at, job.error = JobState.DONE, 1.0, utcnow(), None
                job.seconds = dict(clock.seconds)
        except BaseException:
            kept.unlink(missing_ok=True)
            raise
        if scope.owned:
            scope.source.unlink(missing_ok=True)

    def _fail(self, job_id: uuid.UUID, scope: TranscodeScope, reason: str) -> None:
        with session_scope(self._engine) as session:
            job = held_lease(session, TranscodeJob, job_id, scope.attempt, writing="failure")
            if isinstance(job, TranscodeJob):
                job.state, job.error, job.finished_at = JobState.FAILED, reason, utcnow()
                # An internal error or an outage keeps the upload: nothing says the video is at fault.
                settle_failed_transcode(session, job, drop_source=False)


def settle_failed_transcode(session: Session, job: TranscodeJob, *, drop_source: bool) -> None:
    """A transcode job failed, or the supervisor gave up on it (its workers died on each attempt, such
    as a video too big for their memory): its episode is no longer `processing` but `unplayable`,
    with the job's reason; with `drop_source`, an upload of ours is not kept either."""
    episode = session.get(Episode, job.episode_id)
    if episode is not None and episode.status == EpisodeStatus.PROCESSING:
        episode.status, episode.media_error = EpisodeStatus.UNPLAYABLE, (job.error or "failed")[:1000]
        session.add(episode)
    if drop_source and job.source_owned:
        Path(job.source_path).unlink(missing_ok=True)
