"""Catalog sync from a connected provider (brand key), and fetching catalog images given by URL: both
queued as jobs on the `io` queue and answered `202` with the job (`Location: /v1/sync-jobs/{id}`,
`/v1/image-fetch-jobs/{id}`), since reading a large shop takes minutes. The job routes that read them
are in `api/jobs/router.py`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from sqlmodel import select

from api.brands.models import CheckoutProviderName
from api.brands.service import get_brand
from api.catalog.models import SyncJob
from api.catalog.sync import catalog_source
from api.catalog.sync_schemas import ImageFetchJobPublic, SyncJobPublic
from api.checkout.dependencies import CommerceDep
from api.commerce_config import token_cipher
from api.deps import BrandIdDep, SessionDep
from api.jobs.models import JobState
from api.jobs.queue import JobKind, JobQueue, JobRef
from api.linking.link_jobs import queue_image_fetch

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])


@router.post(
    "/sync/{provider}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SyncJobPublic,
    responses={409: {"description": "provider not connected"}},
    summary="Queue a sync of the provider's catalog; poll the job for its report",
)
def sync_provider_catalog(
    provider: CheckoutProviderName,
    request: Request,
    response: Response,
    brand_id: BrandIdDep,
    session: SessionDep,
    commerce: CommerceDep,
    full: Annotated[
        bool, Query(description="Read everything and remove what the provider no longer has")
    ] = False,
) -> SyncJobPublic:
    brand = get_brand(session, brand_id)
    # Refused now rather than by the job: a brand that has not connected the provider learns at once.
    catalog_source(brand, provider, commerce, token_cipher(commerce))
    job = session.exec(
        select(SyncJob).where(
            SyncJob.brand_id == brand_id,
            SyncJob.provider == provider.value,
            SyncJob.full == full,
            SyncJob.state == JobState.QUEUED,
        )
    ).first()
    if job is None:  # a still-queued sync of the same kind will read the provider as it is now
        job = SyncJob(brand_id=brand_id, provider=provider.value, full=full)
        session.add(job)
        session.commit()
        queue: JobQueue = request.app.state.job_queue
        queue.enqueue(JobRef(JobKind.SYNC, job.id))
        session.refresh(job)
    response.headers["Location"] = JobRef(JobKind.SYNC, job.id).location
    return SyncJobPublic.model_validate(job, from_attributes=True)


@router.post(
    "/images/fetch",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImageFetchJobPublic,
    summary="Queue fetching the catalog's images known only by URL (then indexing them); poll the job",
)
def fetch_catalog_images(
    request: Request, response: Response, brand_id: BrandIdDep, session: SessionDep
) -> ImageFetchJobPublic:
    job = queue_image_fetch(session, request.app.state.job_queue, brand_id)
    response.headers["Location"] = JobRef(JobKind.IMAGES, job.id).location
    return ImageFetchJobPublic.model_validate(job, from_attributes=True)
