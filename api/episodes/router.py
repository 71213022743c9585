"""Episode routes: register (upload or server path), list, read; start and watch tag jobs."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from api.deps import BrandIdDep, SessionDep, SettingsDep, idempotency_key_header
from api.episodes import service as episodes
from api.episodes.deletion import delete_episode, delete_files
from api.episodes.models import Episode, TagJob, TranscodeJob
from api.episodes.schemas import (
    EpisodeFromPath,
    EpisodePage,
    EpisodePublic,
    TagJobPublic,
    TranscodeJobPublic,
)
from api.errors import NotFound
from api.jobs.models import JobState
from api.jobs.queue import JobKind, JobQueue, JobRef
from api.limits import content_length
from api.problems import Problem
from api.settings import ApiSettings
from api.types import PageOffset, Text

router = APIRouter(prefix="/v1", tags=["episodes"])
log = logging.getLogger("reelcart.episodes")


@router.post(
    "/episodes",
    status_code=status.HTTP_201_CREATED,
    response_model=EpisodePublic,
    summary="Register an episode from a file already on the server",
)
def register_from_path(
    body: EpisodeFromPath, request: Request, brand_id: BrandIdDep, session: SessionDep, settings: SettingsDep
) -> EpisodePublic:
    path = episodes.resolve_server_path(settings, body.path)
    episode, job = episodes.register_for_browsers(
        session, settings, brand_id=brand_id, title=body.title, path=path, source="path"
    )
    session.commit()
    _publish(request, job)
    return episodes.episode_public(episode, settings, job.id if job else None)


def _publish(request: Request, job: TranscodeJob | None) -> None:
    """Hand a committed transcode job to the workers; if that fails the job supervisor publishes it."""
    if job is None:
        return
    queue: JobQueue = request.app.state.job_queue
    try:
        queue.enqueue(JobRef(JobKind.TRANSCODE, job.id))
    except Exception:
        log.exception("transcode job %s is stored but was not handed to the workers", job.id)


IdempotencyKey = Annotated[
    str | None,
    idempotency_key_header(
        "Any unique string (a UUID): an upload retried with the same key, after a timeout or a dropped "
        "connection, answers the episode the first one registered instead of a second one"
    ),
]


def _registered_under(
    session: Session, brand_id: uuid.UUID, key: str | None, title: str, declared_bytes: int | None
) -> Episode | None:
    """The episode an earlier upload with this key registered; a 409 if that upload was another one: a
    key reused by mistake must not answer an unrelated episode as if it were this upload's. Another
    title, or a body of another declared size than the first upload's, is another upload (the bytes are
    not read to compare them: the point of a retry's answer is not to take the body again)."""
    if key is None:
        return None
    first = session.exec(
        select(Episode).where(Episode.brand_id == brand_id, Episode.idempotency_key == key)
    ).first()
    if first is None:
        return None
    other_size = (
        declared_bytes is not None and first.upload_bytes is not None and declared_bytes != first.upload_bytes
    )
    if first.title != title or other_size:
        size = f", {first.upload_bytes} bytes" if first.upload_bytes is not None else ""
        raise Problem(
            409,
            f"Idempotency-Key {key!r} was already used for another upload (episode {first.id}, titled "
            f"{first.title!r}{size}); send a new key for a new upload",
            slug="idempotency-key-reused",
        )
    return first


@router.post(
    "/episodes/upload",
    status_code=status.HTTP_201_CREATED,
    response_model=EpisodePublic,
    summary="Upload an episode: the raw video as the request body (streamed to disk, size-limited)",
    openapi_extra={
        "requestBody": {"content": {"video/*": {"schema": {"type": "string", "format": "binary"}}}}
    },
)
async def upload_episode(
    request: Request,
    response: Response,
    brand_id: BrandIdDep,
    session: SessionDep,
    settings: SettingsDep,
    title: Annotated[Text, Query(min_length=1, max_length=300)],
    filename: Annotated[Text, Query(max_length=255)] = "episode.mp4",
    idempotency_key: IdempotencyKey = None,
) -> EpisodePublic:
    if request.headers.get("content-type", "").startswith(
        ("multipart/", "application/json", "application/x-www")
    ):
        raise Problem(415, "send the video bytes as the body (e.g. Content-Type: video/mp4), not a form")
    declared = content_length(request.scope)
    first = await run_in_threadpool(_registered_under, session, brand_id, idempotency_key, title, declared)
    if first is not None:
        # A retry of an upload that was registered: its episode, not a second one (the body is not read).
        response.status_code = status.HTTP_200_OK
        return await run_in_threadpool(_public_view, session, first, settings)

    async def chunks() -> AsyncIterator[bytes]:
        async for chunk in request.stream():
            if chunk:
                yield chunk

    # The key lookup's read transaction would stay open (a pooled connection held) through a long
    # upload and any transcode; it wrote nothing, so end it now.
    session.commit()
    path = await episodes.stream_upload_to_media(chunks(), settings)
    received = path.stat().st_size  # what a racing upload with the same key is compared by

    def register() -> tuple[Episode, TranscodeJob | None] | Episode:
        # Probing reads the file: a worker thread, not the event loop (a transcode is a job's work).
        try:
            episode, job = episodes.register_upload(
                session,
                settings,
                brand_id=brand_id,
                title=title,
                path=path,
                shown_name=filename,
                idempotency_key=idempotency_key,
            )
            try:
                session.commit()
            except BaseException:
                Path(episode.media_path).unlink(missing_ok=True)
                raise
        except IntegrityError:
            # The same key's other upload registered first (the partial unique index): answer that one.
            # (Whatever failed has removed this upload's file.)
            session.rollback()
            winner = _registered_under(session, brand_id, idempotency_key, title, received)
            if winner is None:
                raise
            return winner
        return episode, job

    registered = await run_in_threadpool(register)
    if isinstance(registered, Episode):
        response.status_code = status.HTTP_200_OK
        return await run_in_threadpool(_public_view, session, registered, settings)
    episode, job = registered
    _publish(request, job)
    return episodes.episode_public(episode, settings, job.id if job else None)


def _public_view(session: Session, episode: Episode, settings: ApiSettings) -> EpisodePublic:
    return episodes.episode_view(session, episode, settings)


@router.get("/episodes", response_model=EpisodePage)
def list_episodes(
    brand_id: BrandIdDep,
    session: SessionDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: PageOffset = 0,
) -> EpisodePage:
    return episodes.list_episodes(session, brand_id, settings, limit=limit, offset=offset)


@router.get("/episodes/{episode_id}", response_model=EpisodePublic)
def get_episode(
    episode_id: uuid.UUID, brand_id: BrandIdDep, session: SessionDep, settings: SettingsDep
) -> EpisodePublic:
    return episodes.episode_view(session, episodes.get_episode(session, brand_id, episode_id), settings)


@router.delete(
    "/episodes/{episode_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an episode: its placements and their history, its analytics, its finished jobs and its "
    "files",
    description="Its public timeline answers 404 from then on. An episode a checkout was started from is "
    "kept with the brand's sales records: 409 `already-sold` (reject its placements to take its hotspots "
    "down). While a transcode, tag, link or follow job of the episode is queued or running: 409 "
    "`job-in-progress`. A server-path episode's own file is never deleted, only what ReelCart stored for it.",
    responses={409: {"description": "sold from (`already-sold`), or a job is under way (`job-in-progress`)"}},
)
def remove_episode(
    episode_id: uuid.UUID, brand_id: BrandIdDep, session: SessionDep, settings: SettingsDep
) -> Response:
    files = delete_episode(session, settings, brand_id, episode_id)
    session.commit()
    delete_files(files)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def tag_job_public(job: TagJob) -> TagJobPublic:
    return TagJobPublic.model_validate(job, from_attributes=True)


def _refuse_if_tagging(session: Session, episode_id: uuid.UUID) -> None:
    """409 while the episode has a queued or running tag job: one tags it at a time."""
    active = session.exec(
        select(TagJob).where(
            TagJob.episode_id == episode_id, col(TagJob.state).in_([JobState.QUEUED, JobState.RUNNING])
        )
    ).first()
    if active is not None:
        raise Problem(
            409, f"episode already has a {active.state} tag job ({active.id})", slug="job-in-progress"
        )


@router.post(
    "/episodes/{episode_id}/tag-jobs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TagJobPublic,
    summary="Queue tagging of an episode (detect, track, link); poll the job for progress",
)
def create_tag_job(
    episode_id: uuid.UUID, request: Request, response: Response, brand_id: BrandIdDep, session: SessionDep
) -> TagJobPublic:
    episode = episodes.get_episode(session, brand_id, episode_id)
    episodes.refuse_unless_playable(episode)
    # Key-shared until the job is committed: a deletion under way is waited for, then a 404.
    if not episodes.key_share_episode(session, episode.id):
        raise NotFound("episode")
    _refuse_if_tagging(session, episode.id)
    job = TagJob(brand_id=brand_id, episode_id=episode.id)
    session.add(job)
    try:
        session.commit()
    except IntegrityError:
        # Another request queued one between the check and this insert (the partial unique index), or
        # (SQLite, where the key-share above locks nothing) the episode was deleted meanwhile.
        session.rollback()
        _refuse_if_tagging(session, episode_id)
        episodes.get_episode(session, brand_id, episode_id)
        raise
    queue: JobQueue = request.app.state.job_queue
    reference = JobRef(JobKind.TAG, job.id)
    queue.enqueue(reference)
    session.refresh(job)
    response.headers["Location"] = reference.location
    return tag_job_public(job)


@router.post(
    "/episodes/{episode_id}/transcode-jobs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TranscodeJobPublic,
    summary="Try an unplayable episode's transcode again (when its last attempt failed for a reason that "
    "was not the video's, such as a full disk); poll the job for progress",
    responses={
        409: {
            "description": "the episode plays already (`nothing-to-transcode`), is being transcoded "
            "(`episode-processing`), or its file is gone (`episode-source-gone`: upload it again)"
        }
    },
)
def create_transcode_job(
    episode_id: uuid.UUID, request: Request, response: Response, brand_id: BrandIdDep, session: SessionDep
) -> TranscodeJobPublic:
    job = episodes.retry_transcode(session, brand_id, episode_id)
    session.commit()
    _publish(request, job)
    session.refresh(job)
    response.headers["Location"] = JobRef(JobKind.TRANSCODE, job.id).location
    return TranscodeJobPublic.model_validate(job, from_attributes=True)
