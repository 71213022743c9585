"""Detector routes: start training the brand's detector (a job), list its trained detectors. Reading
train jobs is the jobs router's (`/v1/train-jobs`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from sqlmodel import col, select

from api.deps import BrandIdDep, SessionDep
from api.detectors import service
from api.detectors.models import BrandDetector
from api.detectors.schemas import DetectorPage, DetectorPublic, TrainJobPublic
from api.jobs.queue import JobKind, JobQueue, JobRef

router = APIRouter(prefix="/v1", tags=["detectors"])


@router.post(
    "/detectors/train",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TrainJobPublic,
    summary="Queue training of the brand's own detector from its packshots; poll the job for progress",
)
def train_detector(
    request: Request, response: Response, brand_id: BrandIdDep, session: SessionDep
) -> TrainJobPublic:
    queue: JobQueue = request.app.state.job_queue
    job = service.queue_train_job(session, queue, brand_id)
    response.headers["Location"] = JobRef(JobKind.TRAIN, job.id).location
    return TrainJobPublic.model_validate(job, from_attributes=True)


@router.get("/detectors", response_model=DetectorPage, summary="The brand's trained detectors, newest first")
def list_detectors(brand_id: BrandIdDep, session: SessionDep) -> DetectorPage:
    rows = session.exec(
        select(BrandDetector)
        .where(BrandDetector.brand_id == brand_id)
        .order_by(col(BrandDetector.created_at).desc())
    ).all()
    fingerprint = service.training_set(session, brand_id).fingerprint if rows else ""
    items = [
        DetectorPublic(
            id=row.id,
            name=row.name,
            sha256=row.sha256,
            classes=row.classes,
            metrics=row.metrics,
            stale=row.catalog_fingerprint != fingerprint,
            in_use=position == 0,
            train_job_id=row.train_job_id,
            created_at=row.created_at,
        )
        for position, row in enumerate(rows)
    ]
    return DetectorPage(items=items, total=len(items))
