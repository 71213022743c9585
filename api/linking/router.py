"""Re-linking placements against the current catalog, without re-running detection, as background jobs.

Fetching URL images, indexing a large catalog for the first time and linking thousands of placements
take minutes, so the routes queue a `LinkJob` and answer 202 with it; poll `GET /v1/link-jobs/{id}`
(served, with the list that also shows index-only jobs, by `api/jobs/router.py`).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status
from sqlmodel import Session

from api.deps import BrandIdDep, SessionDep
from api.episodes.service import get_episode, key_share_episode
from api.errors import NotFound
from api.jobs.queue import JobKind, JobRef
from api.linking.link_jobs import queue_link_job
from api.linking.models import LinkJob
from api.linking.schemas import LinkJobPublic
from api.linking.service import NO_IMAGES, catalog_has_images
from api.problems import Problem

router = APIRouter(prefix="/v1", tags=["linking"])


def link_job_public(job: LinkJob) -> LinkJobPublic:
    return LinkJobPublic.model_validate(job, from_attributes=True)


def _queue_link_job(
    request: Request, response: Response, session: Session, brand_id: uuid.UUID, episode_id: uuid.UUID | None
) -> LinkJobPublic:
    if not catalog_has_images(session, brand_id):
        raise Problem(409, NO_IMAGES, slug="catalog-not-indexable")
    job = queue_link_job(session, request.app.state.job_queue, brand_id, episode_id)
    response.headers["Location"] = JobRef(JobKind.LINK, job.id).location
    return link_job_public(job)


@router.post(
    "/episodes/{episode_id}/link",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=LinkJobPublic,
    summary="Queue re-linking of an episode's placements against the current catalog (human decisions "
    "are kept); poll the job",
)
def link_episode(
    episode_id: uuid.UUID, request: Request, response: Response, brand_id: BrandIdDep, session: SessionDep
) -> LinkJobPublic:
    episode = get_episode(session, brand_id, episode_id)
    # Key-shared until the job is committed: a deletion of the episode under way is waited for, and
    # then the episode is gone (404) instead of the job's insert failing on its foreign key.
    if not key_share_episode(session, episode.id):
        raise NotFound("episode")
    return _queue_link_job(request, response, session, brand_id, episode.id)


@router.post(
    "/link",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=LinkJobPublic,
    summary="Queue re-linking of every placement of the brand; poll the job",
)
def link_brand(
    request: Request, response: Response, brand_id: BrandIdDep, session: SessionDep
) -> LinkJobPublic:
    return _queue_link_job(request, response, session, brand_id, None)
