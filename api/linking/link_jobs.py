"""Queueing link jobs: re-links asked for by a brand, and index refreshes after catalog image changes."""

from __future__ import annotations

import uuid

from sqlmodel import Session, select

from api.catalog.models import ImageFetchJob, ProductImage
from api.catalog.remote_images import pending_image_filter
from api.jobs.models import JobState
from api.jobs.queue import JobKind, JobQueue, JobRef
from api.linking.models import LinkJob
from api.linking.service import catalog_has_images


def queue_link_job(
    session: Session,
    queue: JobQueue,
    brand_id: uuid.UUID,
    episode_id: uuid.UUID | None = None,
    *,
    index_only: bool = False,
    product_id: uuid.UUID | None = None,
) -> LinkJob:
    """A queued job over the same scope has not started, so it will see the catalog as it is now:
    it is returned instead of queueing the same work twice. A running one may have read the catalog
    already, so a new one is queued behind it. Commits."""
    job = session.exec(
        select(LinkJob).where(
            LinkJob.brand_id == brand_id,
            LinkJob.episode_id == episode_id,
            LinkJob.product_id == product_id,
            LinkJob.index_only == index_only,
            LinkJob.state == JobState.QUEUED,
        )
    ).first()
    if job is not None:
        return job
    job = LinkJob(brand_id=brand_id, episode_id=episode_id, product_id=product_id, index_only=index_only)
    session.add(job)
    session.commit()
    queue.enqueue(JobRef(JobKind.LINK, job.id))
    session.refresh(job)
    return job


def queue_index_refresh(
    session: Session, queue: JobQueue, brand_id: uuid.UUID
) -> LinkJob | ImageFetchJob | None:
    """After catalog images were added or replaced: fetch and index them in the background, so the
    next tag job links against them without paying for it. Images known only by URL are fetched first,
    by an image-fetch job on the `io` queue, which queues the index-only link job (`vision`) once it has
    them; otherwise the link job is queued now. None when there is nothing to index."""
    pending = session.exec(
        select(ProductImage.id).where(ProductImage.brand_id == brand_id, *pending_image_filter())
    ).first()
    if pending is not None:
        return queue_image_fetch(session, queue, brand_id)
    if not catalog_has_images(session, brand_id):
        return None
    return queue_link_job(session, queue, brand_id, index_only=True)


def queue_image_fetch(session: Session, queue: JobQueue, brand_id: uuid.UUID) -> ImageFetchJob:
    """A still-queued fetch will see every pending image when it runs, so it is returned, not doubled."""
    job = session.exec(
        select(ImageFetchJob).where(
            ImageFetchJob.brand_id == brand_id, ImageFetchJob.state == JobState.QUEUED
        )
    ).first()
    if job is not None:
        return job
    job = ImageFetchJob(brand_id=brand_id)
    session.add(job)
    session.commit()
    queue.enqueue(JobRef(JobKind.IMAGES, job.id))
    session.refresh(job)
    return job
