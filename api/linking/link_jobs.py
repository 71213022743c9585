"""Queueing link jobs: re-links asked for by a brand, and index refreshes after catalog image changes."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from api.brands.models import Brand
from api.catalog.models import ImageFetchJob, Product, ProductImage
from api.catalog.remote_images import pending_image_filter
from api.jobs.models import JobState
from api.jobs.queue import JobKind, JobQueue, JobRef
from api.linking.models import LinkJob
from api.linking.service import (
    brand_thresholds,
    catalog_has_images,
    decided_by_linker,
    linker_reads,
    placements_naming,
)
from api.review.models import Placement

log = logging.getLogger("reelcart.jobs")


# A job that will do some work, and whether it is new (added to the session, to publish after the commit).
PendingLinkJob = tuple[LinkJob, bool]


def pending_link_job(
    session: Session,
    brand_id: uuid.UUID,
    episode_id: uuid.UUID | None = None,
    *,
    index_only: bool = False,
    product_id: uuid.UUID | None = None,
    linker_decided_only: bool = False,
    decide_only: bool = False,
) -> PendingLinkJob:
    """The job that will do this work: a queued job over the same scope has not started, so it will see
    the catalog as it is now and is returned instead of queueing the same work twice (False); for a
    `decide_only` job, a queued re-link of the same scope does that work too (it links with the
    thresholds it reads when it starts), so it is returned as well; a running
    one may have read the catalog already, so a new one is added to the session (True), uncommitted, so
    that it commits with the change that asked for it. Hand a new one to the workers after the commit
    (`publish`, `publish_stored`); the job supervisor hands out one that never was (with a broker, or
    on one box: the CLI stores jobs it does not run)."""
    # Locked until the commit: a worker's claim of the job (a conditional update of the row) waits for
    # the change to be stored, so the job cannot start with the catalog as it was before the change and
    # leave it unlinked; a job claimed before this reads it is no longer queued, and a new one is added.
    scope: list[ColumnElement[bool]] = [
        col(LinkJob.brand_id) == brand_id,
        col(LinkJob.episode_id) == episode_id,
        col(LinkJob.product_id) == product_id,
        col(LinkJob.index_only) == index_only,
        col(LinkJob.linker_decided_only) == linker_decided_only,
        col(LinkJob.state) == JobState.QUEUED,
    ]
    if not decide_only:
        scope.append(col(LinkJob.decide_only).is_(False))
    # A queued re-link first: it covers a decide-only job's work.
    job = session.exec(
        select(LinkJob).where(*scope).order_by(col(LinkJob.decide_only)).with_for_update()
    ).first()
    if job is not None:
        return job, False
    job = LinkJob(
        brand_id=brand_id,
        episode_id=episode_id,
        product_id=product_id,
        index_only=index_only,
        linker_decided_only=linker_decided_only,
        decide_only=decide_only,
    )
    session.add(job)
    session.flush()
    return job, True


def publish(queue: JobQueue, job: LinkJob, new: bool) -> None:
    """Hand a committed new job to the workers (a job found queued already was handed to them)."""
    if new:
        queue.enqueue(JobRef(JobKind.LINK, job.id))


def publish_stored(queue: JobQueue, pending: PendingLinkJob | None) -> None:
    """`publish` after the commit that stored the job with the change that asked for it: a failure to
    hand it over is logged, never raised, since both are stored. With a broker (the only queue whose
    publishing can fail: the broker is down) the job supervisor publishes a queued job nobody published
    (api.jobs.recovery); a thread queue takes it in memory, and records that it did."""
    if pending is None:
        return
    job, new = pending
    try:
        publish(queue, job, new)
    except Exception:
        log.exception("link job %s is stored but was not handed to the workers", job.id)


def queue_link_job(
    session: Session,
    queue: JobQueue,
    brand_id: uuid.UUID,
    episode_id: uuid.UUID | None = None,
    *,
    index_only: bool = False,
    product_id: uuid.UUID | None = None,
    linker_decided_only: bool = False,
) -> LinkJob:
    """`pending_link_job`, committed and published at once (when nothing else is to commit with it)."""
    job, new = pending_link_job(
        session,
        brand_id,
        episode_id,
        index_only=index_only,
        product_id=product_id,
        linker_decided_only=linker_decided_only,
    )
    session.commit()
    publish(queue, job, new)
    session.refresh(job)
    return job


def relink_for_product_change(
    session: Session, product: Product, before: tuple[object, ...]
) -> PendingLinkJob | None:
    """After an edit of a product (`before`: `linker_reads` of it before the edit), the job that links
    again the placements the linker decided that name it (awaiting review, or approved by the linker)
    when the edit changed what the linker reads of it: the words, variant names and marks decide which
    of its links are approved (and which name a sibling), and without a re-link the brand sees nothing
    change until it tags again. None when nothing it reads
    changed or the brand has no catalog images to link against. Not committed (see `pending_link_job`)."""
    if linker_reads(session, product) == before or not catalog_has_images(session, product.brand_id):
        return None
    return pending_link_job(session, product.brand_id, product_id=product.id, linker_decided_only=True)


def relink_placements_naming(
    session: Session, brand_id: uuid.UUID, product_id: uuid.UUID
) -> PendingLinkJob | None:
    """After a change to a product's images or its deletion (uncommitted in `session`), the job that
    links again, with the catalog as it is now, the placements the linker decided that name it among
    their candidates: a second packshot, such as the print a shop sells, can lift a link the first one
    held; without the product, a sibling may explain them, or nothing may (those that had chosen it are
    back in review, `delete_product`). None unless such placements exist (a catalog being built has
    none, and its index refresh is queued anyway: `queue_index_refresh`) and a catalog image is left.
    Not committed (see `pending_link_job`)."""
    session.flush()
    if not catalog_has_images(session, brand_id) or not placements_naming(session, brand_id, product_id):
        return None
    return pending_link_job(session, brand_id, product_id=product_id, linker_decided_only=True)


def relink_or_refresh_after_removal(
    session: Session, brand_id: uuid.UUID, product_id: uuid.UUID
) -> PendingLinkJob | None:
    """After a product or one of its images was removed (uncommitted in `session`): the re-link of the
    placements that name it (`relink_placements_naming`), or, when none does, the index-only job that
    takes it out of the brand's index. Either way the index is refreshed in the background, as after an
    image is added: the next tag job does not pay for it, and a settings preview sees a catalog change
    waiting (`api.linking.preview.catalog_work_pending`) instead of an index that looks current. None
    when no catalog image is left."""
    relink = relink_placements_naming(session, brand_id, product_id)
    if relink is not None or not catalog_has_images(session, brand_id):
        return relink
    # Any job still queued for the brand brings its index up to date when it starts: that one, then.
    queued = session.exec(
        select(LinkJob)
        .where(col(LinkJob.brand_id) == brand_id, col(LinkJob.state) == JobState.QUEUED)
        .order_by(col(LinkJob.created_at))
        .limit(1)
        .with_for_update()
    ).first()
    if queued is not None:
        return queued, False
    return pending_link_job(session, brand_id, index_only=True)


def relink_for_synced_products(
    session: Session, brand_id: uuid.UUID, product_ids: Collection[uuid.UUID]
) -> PendingLinkJob | None:
    """After a catalog sync (or a provider's product webhook) changed what the linker reads of these
    products: the re-link of the placements the linker decided that name them — one product's job, or,
    for several, one job over all the placements the linker decided. None when no such placement
    names any of them. Not committed (see `pending_link_job`)."""
    if not product_ids or not catalog_has_images(session, brand_id):
        return None
    named = [
        product_id for product_id in sorted(product_ids) if placements_naming(session, brand_id, product_id)
    ]
    if not named:
        return None
    if len(named) == 1:
        return pending_link_job(session, brand_id, product_id=named[0], linker_decided_only=True)
    return pending_link_job(session, brand_id, linker_decided_only=True)


def placements_decided_by_linker(session: Session, brand_id: uuid.UUID) -> int:
    """How many of the brand's placements a re-link may decide again (`decided_by_linker`)."""
    statement = select(func.count()).where(col(Placement.brand_id) == brand_id, decided_by_linker())
    return int(session.exec(statement).one())


def relink_for_new_products(session: Session, brand_id: uuid.UUID) -> PendingLinkJob | None:
    """After products became linkable (imported or created with images, or given their first image):
    the re-link of all the placements the linker decided, which may show them (linked as unknown
    products, or as a sibling, while the catalog lacked them: the linker's approval of a sibling is
    withdrawn when the product it shows arrives). None when there is none: a catalog imported before
    any tagging queues only its index refresh. Not committed (see `pending_link_job`)."""
    session.flush()
    if not catalog_has_images(session, brand_id):
        return None
    if not placements_decided_by_linker(session, brand_id):
        return None
    return pending_link_job(session, brand_id, linker_decided_only=True)


def relink_after_sync(
    session: Session,
    brand_id: uuid.UUID,
    changed: Collection[uuid.UUID],
    newly_linkable: Collection[uuid.UUID],
) -> PendingLinkJob | None:
    """After a provider sync or product webhook (`SyncRun`, `SqlCatalogStore`): products that became
    linkable re-link every placement the linker decided (`relink_for_new_products`), else the products
    whose linker-read fields changed re-link theirs (`relink_for_synced_products`)."""
    if newly_linkable:
        return relink_for_new_products(session, brand_id)
    return relink_for_synced_products(session, brand_id, changed)


def relink_for_settings_change(session: Session, brand: Brand, before: object) -> PendingLinkJob | None:
    """After an edit of a brand's settings (`before`: its `brand_thresholds` before the edit), the job
    that decides the placements the linker decided again under new linking thresholds: lowering the
    auto-approve level approves the links that now pass it, raising it withdraws the linker's approvals
    that no longer do (a person's decisions stay, as in every re-link). None when the thresholds did
    not change or there is no catalog image to link against. Not committed (see `pending_link_job`)."""
    if brand_thresholds(brand) == before or not catalog_has_images(session, brand.id):
        return None
    return pending_link_job(session, brand.id, linker_decided_only=True, decide_only=True)


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
