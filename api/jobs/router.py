"""Reading background jobs, one router for every kind: `GET /v1/{kind}-jobs` (newest first, filtered)
and `GET /v1/{kind}-jobs/{id}`. Each kind registers its table and bodies in `JOB_RESOURCES`; the
routes that *start* a job stay with the domain that knows what the job is for (episodes start tag
jobs, linking starts link jobs).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.catalog.models import ImageFetchJob, SyncJob
from api.catalog.sync_schemas import ImageFetchJobPage, ImageFetchJobPublic, SyncJobPage, SyncJobPublic
from api.deps import BrandIdDep, SessionDep
from api.detectors.models import DetectorTrainJob
from api.detectors.schemas import TrainJobPage, TrainJobPublic
from api.episodes.models import TagJob, TranscodeJob
from api.episodes.schemas import TagJobPage, TagJobPublic, TranscodeJobPage, TranscodeJobPublic
from api.jobs.listing import newest_jobs
from api.jobs.models import JobState
from api.jobs.queue import JobKind, jobs_path
from api.jobs.tables import JobTable
from api.linking.models import LinkJob
from api.linking.schemas import LinkJobPage, LinkJobPublic
from api.ownership import get_owned
from api.review.models import FollowJob
from api.review.schemas import FollowJobPage, FollowJobPublic

router = APIRouter(prefix="/v1")


@dataclass(frozen=True, slots=True)
class JobResource:
    kind: JobKind
    table: JobTable
    public: type[BaseModel]
    page: type[BaseModel]
    openapi_tag: str  # where the kind's routes appear in /docs (as before this router existed)

    @property
    def path(self) -> str:
        return jobs_path(self.kind)

    @property
    def noun(self) -> str:
        return f"{self.kind.value} job"


JOB_RESOURCES = (
    JobResource(JobKind.TAG, TagJob, TagJobPublic, TagJobPage, "episodes"),
    JobResource(JobKind.LINK, LinkJob, LinkJobPublic, LinkJobPage, "linking"),
    JobResource(JobKind.SYNC, SyncJob, SyncJobPublic, SyncJobPage, "catalog"),
    JobResource(JobKind.IMAGES, ImageFetchJob, ImageFetchJobPublic, ImageFetchJobPage, "catalog"),
    JobResource(JobKind.TRAIN, DetectorTrainJob, TrainJobPublic, TrainJobPage, "detectors"),
    JobResource(JobKind.TRANSCODE, TranscodeJob, TranscodeJobPublic, TranscodeJobPage, "episodes"),
    JobResource(JobKind.FOLLOW, FollowJob, FollowJobPublic, FollowJobPage, "review"),
)


def _list_route(resource: JobResource) -> Callable[..., Any]:
    def list_jobs(
        brand_id: BrandIdDep,
        session: SessionDep,
        episode_id: uuid.UUID | None = None,
        state: JobState | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> BaseModel:
        jobs, total = newest_jobs(
            session, resource.table, brand_id, episode_id=episode_id, state=state, limit=limit
        )
        items = [resource.public.model_validate(job, from_attributes=True) for job in jobs]
        return resource.page(items=items, total=total)

    return list_jobs


def _get_route(resource: JobResource) -> Callable[..., Any]:
    def get_job(job_id: uuid.UUID, brand_id: BrandIdDep, session: SessionDep) -> BaseModel:
        job = get_owned(session, resource.table, brand_id, job_id, resource.noun)
        return resource.public.model_validate(job, from_attributes=True)

    return get_job


for _resource in JOB_RESOURCES:
    # Route names keep the operation ids and summaries the per-kind routes had.
    router.add_api_route(
        _resource.path,
        _list_route(_resource),
        methods=["GET"],
        response_model=_resource.page,
        tags=[_resource.openapi_tag],
        name=f"list_{_resource.kind.value.replace('-', '_')}_jobs",
    )
    router.add_api_route(
        _resource.path + "/{job_id}",
        _get_route(_resource),
        methods=["GET"],
        response_model=_resource.public,
        tags=[_resource.openapi_tag],
        name=f"get_{_resource.kind.value.replace('-', '_')}_job",
    )
