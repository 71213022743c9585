"""Brand review routes: the queue, a placement, approve / reject / patch with If-Match, history, media."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from api.deps import BrandIdDep, PrincipalDep, SessionDep, SettingsDep, idempotency_key_header
from api.episodes.models import Episode
from api.episodes.service import get_episode, key_share_episode, media_type_of, refuse_unless_playable
from api.errors import NotFound
from api.jobs.queue import JobKind, JobQueue, JobRef
from api.review import service as review
from api.review.dependencies import EditablePlacement
from api.review.follow_job import queue_follow, refuse_if_following
from api.review.models import Placement, PlacementStatus
from api.review.schemas import (
    ApproveBody,
    BulkApprove,
    BulkApproveResult,
    EpisodeShots,
    FollowBody,
    FollowJobPublic,
    PlacementCreate,
    PlacementPatch,
    PlacementPublic,
    ReviewActionPublic,
    ReviewQueuePage,
)
from api.signing import verify_signed_path
from api.types import Text

router = APIRouter(prefix="/v1", tags=["review"])

DrawingKey = Annotated[
    str | None,
    idempotency_key_header(
        "Any unique string (a UUID): the same drawing sent again with the same key, after a timeout or a "
        "dropped connection, answers 200 with the placement the first one stored instead of adding a second "
        "hotspot; the key with another drawing is a 409 (`idempotency-key-reused`)"
    ),
]


def _with_etag(session: SessionDep, placement: Placement, settings: SettingsDep) -> JSONResponse:
    body = review.placement_public(session, placement, settings)
    return JSONResponse(body.model_dump(mode="json"), headers={"ETag": review.placement_etag(placement)})


@router.get("/review/queue", response_model=ReviewQueuePage)
def review_queue(
    brand_id: BrandIdDep,
    session: SessionDep,
    settings: SettingsDep,
    status: PlacementStatus = PlacementStatus.PROPOSED,
    episode_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[Text | None, Query(max_length=200)] = None,
) -> ReviewQueuePage:
    return review.review_queue(
        session, brand_id, settings, status=status, limit=limit, cursor=cursor, episode_id=episode_id
    )


@router.post("/review/bulk-approve", response_model=BulkApproveResult)
def bulk_approve(
    body: BulkApprove,
    principal: PrincipalDep,
    brand_id: BrandIdDep,
    session: SessionDep,
    settings: SettingsDep,
) -> BulkApproveResult:
    approved, contradicted = review.bulk_approve(
        session, brand_id, principal, settings, min_confidence=body.min_confidence, episode_id=body.episode_id
    )
    session.commit()
    return BulkApproveResult(
        approved=len(approved),
        placement_ids=[placement.id for placement in approved],
        skipped_contradicted=contradicted,
    )


@router.get("/episodes/{episode_id}/placements", response_model=list[PlacementPublic])
def episode_placements(
    episode_id: uuid.UUID, brand_id: BrandIdDep, session: SessionDep, settings: SettingsDep
) -> list[PlacementPublic]:
    get_episode(session, brand_id, episode_id)
    rows = session.exec(
        select(Placement).where(Placement.episode_id == episode_id).order_by(col(Placement.start_ms))
    ).all()
    return review.placements_public(session, rows, settings)


@router.post(
    "/episodes/{episode_id}/placements",
    response_model=PlacementPublic,
    status_code=201,
    responses={
        409: {
            "description": "the episode is not playable yet (`episode-processing`) or at all "
            "(`episode-unplayable`), or the Idempotency-Key was used for another drawing "
            "(`idempotency-key-reused`)"
        },
        422: {
            "description": "a span or box a player could not show, or a product that is not yours or "
            "has no variant to sell"
        },
    },
)
def draw_placement(
    episode_id: uuid.UUID,
    body: PlacementCreate,
    brand_id: BrandIdDep,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    idempotency_key: DrawingKey = None,
) -> JSONResponse:
    """Add a product the tagger did not find: its span, its box at one or more moments, and the product
    it sells. It is approved (a person chose it) and on the timeline at once; `drawn_by_hand` tells it
    from the tagger's placements, no re-link touches it and a re-tag keeps it. Edit, reject or read its
    history as any placement."""
    episode = get_episode(session, brand_id, episode_id)
    # A box is drawn on frames the person saw: an episode whose video does not play yet has none.
    refuse_unless_playable(episode)
    first = review.drawn_under(session, episode.id, idempotency_key, body)
    if first is not None:
        return _with_etag(session, first, settings)
    # Key-shared until the placement is committed: a deletion of the episode under way is waited for,
    # then a 404, rather than an insert that fails its foreign key.
    if not key_share_episode(session, episode_id):
        raise NotFound("episode")
    try:
        placement = review.draw(session, episode, body, principal, settings, idempotency_key)
        session.commit()
    except IntegrityError:
        # The same key's other request stored it between the check and this insert: its answer is ours
        # (or the episode was deleted meanwhile, on SQLite, where the key-share above locks nothing).
        session.rollback()
        get_episode(session, brand_id, episode_id)
        first = review.drawn_under(session, episode_id, idempotency_key, body)
        if first is None:
            raise
        return _with_etag(session, first, settings)
    response = _with_etag(session, placement, settings)
    response.status_code = 201
    response.headers["Location"] = f"/v1/placements/{placement.id}"
    return response


@router.get("/episodes/{episode_id}/shots", response_model=EpisodeShots)
def episode_shots(episode_id: uuid.UUID, brand_id: BrandIdDep, session: SessionDep) -> EpisodeShots:
    """The episode's shots, as its last finished tag job cut it, with the placements approved and awaiting
    review in each: a shot with none approved is where a product the tagger missed would be (add it with
    `POST /v1/episodes/{id}/placements`)."""
    return review.episode_shots(session, get_episode(session, brand_id, episode_id))


@router.get("/placements/{placement_id}", response_model=PlacementPublic)
def get_placement(
    placement_id: uuid.UUID, brand_id: BrandIdDep, session: SessionDep, settings: SettingsDep
) -> JSONResponse:
    return _with_etag(session, review.get_placement(session, brand_id, placement_id), settings)


@router.post("/placements/{placement_id}/approve", response_model=PlacementPublic)
def approve(
    placement: EditablePlacement,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    body: ApproveBody | None = None,
) -> JSONResponse:
    review.approve(session, placement, principal, settings, product_id=body.product_id if body else None)
    session.commit()
    return _with_etag(session, placement, settings)


@router.post("/placements/{placement_id}/reject", response_model=PlacementPublic)
def reject(
    placement: EditablePlacement,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> JSONResponse:
    review.reject(session, placement, principal, settings)
    session.commit()
    return _with_etag(session, placement, settings)


@router.patch("/placements/{placement_id}", response_model=PlacementPublic)
def patch_placement(
    placement: EditablePlacement,
    body: PlacementPatch,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> JSONResponse:
    review.patch(session, placement, body, principal, settings)
    session.commit()
    return _with_etag(session, placement, settings)


@router.post(
    "/placements/{placement_id}/follow-jobs",
    status_code=202,
    response_model=FollowJobPublic,
    summary="Follow a drawn placement's box through its span; poll the job for progress",
    responses={
        409: {
            "description": "not a placement drawn by hand (`not-drawn-by-hand`), a follow job of it is "
            "queued or running (`job-in-progress`), or its episode does not play"
        }
    },
)
def create_follow_job(
    placement_id: uuid.UUID,
    request: Request,
    response: Response,
    brand_id: BrandIdDep,
    session: SessionDep,
    body: FollowBody | None = None,
) -> FollowJobPublic:
    """A worker finds the product of the box in the frames of the placement's span, forward and backward
    from the frame it was drawn on, and stores the boxes as its keyframes (history: `follower`, `follow`):
    the hotspot then moves with the product. A box with too little texture to follow (a plain carton side)
    stays as drawn, and the job's `summary` says so; so does one whose placement a person edited while it
    ran (their edit wins)."""
    placement = review.get_placement(session, brand_id, placement_id)
    # Key-shared until the job is committed, before anything else is locked (an episode's deletion locks
    # its placements first): a deletion under way is waited for, then a 404.
    if not review.key_share_placement(session, placement_id):
        raise NotFound("placement")
    job = queue_follow(session, placement, body.t_ms if body else None)
    try:
        session.commit()
    except IntegrityError:
        # Another request queued one between the check and this insert (the partial unique index).
        session.rollback()
        review.get_placement(session, brand_id, placement_id)
        refuse_if_following(session, placement_id)
        raise
    reference = JobRef(JobKind.FOLLOW, job.id)
    queue: JobQueue = request.app.state.job_queue
    queue.enqueue(reference)
    session.refresh(job)
    response.headers["Location"] = reference.location
    return FollowJobPublic.model_validate(job, from_attributes=True)


@router.get("/placements/{placement_id}/history", response_model=list[ReviewActionPublic])
def placement_history(
    placement_id: uuid.UUID, brand_id: BrandIdDep, session: SessionDep
) -> list[ReviewActionPublic]:
    return review.history(session, review.get_placement(session, brand_id, placement_id))


@router.get(
    "/placements/{placement_id}/thumbnail", tags=["media"], summary="Thumbnail (signed URL from the API)"
)
def placement_thumbnail(
    placement_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    exp: int | None = None,
    sig: str | None = None,
) -> FileResponse:
    verify_signed_path(
        settings.secret_key.get_secret_value(), f"/v1/placements/{placement_id}/thumbnail", exp, sig
    )
    placement = session.get(Placement, placement_id)
    if placement is None or not placement.thumbnail_path or not Path(placement.thumbnail_path).is_file():
        raise NotFound("thumbnail")
    return FileResponse(placement.thumbnail_path, headers={"Cache-Control": "private, max-age=3600"})


@router.get("/episodes/{episode_id}/media", tags=["media"], summary="Episode video (signed URL from the API)")
def episode_media(
    episode_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    exp: int | None = None,
    sig: str | None = None,
) -> FileResponse:
    verify_signed_path(settings.secret_key.get_secret_value(), f"/v1/episodes/{episode_id}/media", exp, sig)
    episode = session.get(Episode, episode_id)
    if episode is None:
        raise NotFound("episode media")
    # Until its transcode is done the file is the upload as sent, which browsers do not play.
    refuse_unless_playable(episode)
    if not Path(episode.media_path).is_file():
        raise NotFound("episode media")
    # FileResponse answers Range requests, so <video> can seek.
    return FileResponse(
        episode.media_path,
        media_type=media_type_of(Path(episode.media_path)),
        headers={"Cache-Control": "private, max-age=3600"},
    )
