"""Re-linking placements against the current catalog, without re-running detection, as background jobs.

Fetching URL images, indexing a large catalog for the first time and linking thousands of placements
take minutes, so the routes queue a `LinkJob` and answer 202 with it; poll `GET /v1/link-jobs/{id}`.
Index-only jobs (queued when catalog images are added) are listed here too.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from sqlmodel import Session

from api.deps import BrandIdDep, SessionDep
from api.episodes.service import get_episode
from api.jobs.listing import newest_jobs
from api.jobs.models import JobState
from api.linking.link_jobs import queue_link_job
from api.linking.models import LinkJob
from api.linking.schemas import LinkJobPage, LinkJobPublic
from api.linking.service import NO_IMAGES, catalog_has_images
from api.ownership import get_owned
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
    response.headers["Location"] = f"/v1/link-jobs/{job.id}"
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


@router.get("/link-jobs", response_model=LinkJobPage)
def list_link_jobs(
    brand_id: BrandIdDep,
    session: SessionDep,
    episode_id: uuid.UUID | None = None,
    state: JobState | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> LinkJobPage:
    jobs, total = newest_jobs(session, LinkJob, brand_id, episode_id=episode_id, state=state, limit=limit)
    return LinkJobPage(items=[link_job_public(job) for job in jobs], total=total)


@router.get("/link-jobs/{job_id}", response_model=LinkJobPublic)
def get_link_job(job_id: uuid.UUID, brand_id: BrandIdDep, session: SessionDep) -> LinkJobPublic:
    return link_job_public(get_owned(session, LinkJob, brand_id, job_id, "link job"))
