"""The catalog's background jobs: a sync from a connected provider, and fetching images known only by
URL. Both run on the `io` queue (api.jobs.routing); each queues the next step of the index refresh
when it changed something (a sync → an image fetch or an index-only link job; a fetch → the link job)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Engine
from sqlmodel import Session

from api.brands.exceptions import ProviderNotConnected
from api.brands.models import Brand, CheckoutProviderName
from api.catalog.image_fetch import ImageFetcher
from api.catalog.models import ImageFetchJob, SyncJob
from api.catalog.remote_images import fetch_pending_images, image_fetcher
from api.catalog.sync import catalog_source, run_sync
from api.catalog.sync_schemas import SyncReportPublic
from api.columns import utcnow
from api.commerce_config import token_cipher
from api.db import session_scope
from api.errors import ApiError
from api.jobs.lease import LeaseLostError, held_lease, require_lease
from api.jobs.models import JobState
from api.jobs.phases import PhaseClock
from api.jobs.progress import JobProgress
from api.jobs.queue import JobQueue
from api.jobs.runner import JobRunner
from api.linking.link_jobs import publish_stored, queue_index_refresh, queue_link_job, relink_after_sync
from api.linking.service import catalog_has_images
from api.settings import ApiSettings
from commerce.exceptions import CommerceError
from commerce.settings import CommerceSettings


@dataclass(frozen=True)
class SyncScope:
    brand_id: uuid.UUID
    provider: CheckoutProviderName
    full: bool
    attempt: int


class SyncJobExecutor:
    """Runs one sync job: the provider's catalog read and upserted in one transaction, committed with
    the job's report only while this attempt holds the job (a provider failure keeps nothing)."""

    def __init__(
        self, engine: Engine, settings: ApiSettings, queue: JobQueue, commerce: Callable[[], CommerceSettings]
    ) -> None:
        self._engine, self._settings, self._queue, self._commerce = engine, settings, queue, commerce
        self._runner = JobRunner(engine, settings, SyncJob, "sync job")

    def __call__(self, job_id: uuid.UUID) -> None:
        scope = self._runner.claim(
            job_id,
            lambda _session, job: SyncScope(
                job.brand_id, CheckoutProviderName(job.provider), job.full, job.attempts
            ),
        )
        if scope is None:
            return
        self._runner.run(
            job_id,
            scope.attempt,
            lambda: self._run(job_id, scope),
            # Bad input and refusals fail at once; provider timeouts and 5xx are retried (the runner).
            reasons={
                ApiError: lambda error: str(getattr(error, "detail", error)),
                CommerceError: str,
                LeaseLostError: str,
            },
            fail=partial(self._fail, job_id, scope.attempt),
        )

    def _run(self, job_id: uuid.UUID, scope: SyncScope) -> None:
        clock = PhaseClock()
        # No progress is written while the sync runs: it is one transaction (a provider failure keeps
        # nothing), and on SQLite a second connection's progress write would wait on its write lock.
        with session_scope(self._engine) as session:
            brand = session.get(Brand, scope.brand_id)
            if brand is None:
                raise ProviderNotConnected("the brand no longer exists")
            commerce = self._commerce()
            source = catalog_source(brand, scope.provider, commerce, token_cipher(commerce))
            with clock.phase("sync"):
                run = run_sync(session, brand, source, self._settings, full=scope.full)
            report = run.report
            # Stored with the sync: both or neither.
            relink = relink_after_sync(session, scope.brand_id, run.relink_products, run.newly_linkable)
            job = require_lease(session, SyncJob, job_id, scope.attempt, writing="the synced catalog")
            job.report = SyncReportPublic.from_report(report).model_dump(mode="json")
            job.state, job.progress, job.finished_at, job.error = JobState.DONE, 1.0, utcnow(), None
            job.seconds = dict(clock.seconds)
        publish_stored(self._queue, relink)
        if report.created or report.updated or report.removed:
            with Session(self._engine) as session:
                queue_index_refresh(session, self._queue, scope.brand_id)

    def _fail(self, job_id: uuid.UUID, attempt: int, reason: str) -> None:
        with session_scope(self._engine) as session:
            job = held_lease(session, SyncJob, job_id, attempt, writing="failure")
            if isinstance(job, SyncJob):
                job.state, job.error, job.finished_at = JobState.FAILED, reason, utcnow()


class ImageFetchJobExecutor:
    """Runs one image-fetch job: every pending URL image of the brand downloaded, checked and stored
    (one short transaction each), then an index-only link job queued when the catalog has images."""

    def __init__(
        self, engine: Engine, settings: ApiSettings, queue: JobQueue, fetcher: ImageFetcher | None = None
    ) -> None:
        self._engine, self._settings, self._queue = engine, settings, queue
        self._fetcher = fetcher or image_fetcher(settings)
        self._runner = JobRunner(engine, settings, ImageFetchJob, "image-fetch job")

    def __call__(self, job_id: uuid.UUID) -> None:
        scope = self._runner.claim(job_id, lambda _session, job: (job.brand_id, job.attempts))
        if scope is None:
            return
        brand_id, attempt = scope
        self._runner.run(
            job_id,
            attempt,
            lambda: self._run(job_id, brand_id, attempt),
            reasons={LeaseLostError: str},
            fail=partial(self._fail, job_id, attempt),
        )

    def _run(self, job_id: uuid.UUID, brand_id: uuid.UUID, attempt: int) -> None:
        clock = PhaseClock()
        progress = JobProgress(self._engine, ImageFetchJob, job_id, attempt)
        with clock.phase("fetch"):
            fetched = fetch_pending_images(
                self._engine,
                self._settings,
                brand_id,
                self._fetcher,
                on_progress=lambda done, total: progress.report(done / max(total, 1)),
            )
        with session_scope(self._engine) as session:
            job = require_lease(session, ImageFetchJob, job_id, attempt, writing="fetch counts")
            job.images_fetched, job.images_failed = fetched.fetched, fetched.failed
            job.state, job.progress, job.finished_at, job.error = JobState.DONE, 1.0, utcnow(), None
            job.seconds = dict(clock.seconds)
        with Session(self._engine) as session:
            if fetched.fetched and catalog_has_images(session, brand_id):
                queue_link_job(session, self._queue, brand_id, index_only=True)

    def _fail(self, job_id: uuid.UUID, attempt: int, reason: str) -> None:
        with session_scope(self._engine) as session:
            job = held_lease(session, ImageFetchJob, job_id, attempt, writing="failure")
            if isinstance(job, ImageFetchJob):
                job.state, job.error, job.finished_at = JobState.FAILED, reason, utcnow()
