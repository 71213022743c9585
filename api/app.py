"""The FastAPI application factory: settings, database, job queue and routers wired in one place."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from api import health, pages
from api.analytics import router as events
from api.brands import admin_router as admin
from api.brands import router as brands
from api.catalog import router as catalog
from api.catalog import sync_router as sync
from api.checkout import router as checkout
from api.compression import CompressedResponses
from api.cors import AudienceCors
from api.db import create_db_engine, session_scope
from api.detectors import router as detectors
from api.episodes import router as episodes
from api.housekeeping import sweep_stale_part_files
from api.jobs import router as jobs
from api.jobs.handlers import job_handlers
from api.jobs.queue import DatabaseJobQueue, JobQueue, ThreadJobQueue
from api.jobs.recovery import StaleJobReaper, recover_jobs
from api.jobs.tagging import TagFunction
from api.limits import BodySizeLimit, upload_routes
from api.linking import router as linking
from api.linking.service import LinkingService
from api.observability.context import configure_logging
from api.observability.metrics import metrics_registry
from api.observability.middleware import RequestObservation
from api.openapi import install_openapi
from api.problems import install_problem_handlers
from api.rate_limits import RateLimiter, RateLimits
from api.review import router as review
from api.settings import ApiSettings, get_settings
from api.timeline import router as timeline
from api.webhooks import router as webhooks

log = logging.getLogger("reelcart.api")

# How often start-up job recovery asks again for a database that did not answer.
RECOVERY_RETRY_S = 5.0


def create_app(
    settings: ApiSettings | None = None,
    *,
    engine: Engine | None = None,
    tag_function: TagFunction | None = None,
    job_queue: JobQueue | None = None,
) -> FastAPI:
    """Build the app. Tests pass their own engine, tag function or queue; production passes nothing."""
    settings = settings or get_settings()
    engine = engine or create_db_engine(settings.database_url)
    linking_service = LinkingService(engine, settings)
    if job_queue is None and settings.worker_threads == 0:
        job_queue = DatabaseJobQueue()  # a web-only node: `reelcart worker` runs the jobs
    elif job_queue is None:
        handlers = job_handlers(engine, settings, linking_service, tag_function)
        job_queue = ThreadJobQueue(handlers, workers=settings.worker_threads)
    queue = job_queue

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        undo_logging = configure_logging(settings.log_format)
        settings.media_dir.mkdir(parents=True, exist_ok=True)
        sweep_stale_part_files(settings.media_dir)
        reaper = StaleJobReaper(engine, on_requeued=queue.enqueue)
        recovery = JobRecovery(engine, queue, retry_s=RECOVERY_RETRY_S)
        if settings.worker_threads > 0:
            queue.start()
            recovery.start()
            reaper.start()
        yield
        recovery.stop()
        reaper.stop()
        queue.stop()
        undo_logging()

    app = FastAPI(
        title="ReelCart API",
        version="0.1.0",
        description=(
            "Shoppable short-form drama: catalogs, episodes, tagging and re-linking jobs, placements and "
            "timelines."
        ),
        lifespan=lifespan,
        # api/pages.py serves /docs and /redoc from installed assets instead of a CDN, so they work offline.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.job_queue = queue
    app.state.linking = linking_service
    app.state.rate_limiter = RateLimiter(settings)
    app.state.metrics = metrics_registry(engine)

    install_problem_handlers(app)
    install_openapi(app)
    app.add_middleware(
        BodySizeLimit,
        json_bytes=settings.max_json_bytes,
        uploads=upload_routes(settings),
    )
    # Outside the body cap and inside CORS: a flood is refused before its body is read, and a browser
    # can still read the 429.
    app.add_middleware(RateLimits, limiter=app.state.rate_limiter, settings=settings)
    # The player's routes answer any origin; brand routes only REELCART_CORS_ORIGINS (api/cors.py).
    app.add_middleware(AudienceCors, brand_origins=settings.cors_origins)
    # Gzip whatever the layers below answer (timeline, overlay SDK, JSON, problems).
    app.add_middleware(CompressedResponses)
    # Outermost: the request id, and status and latency as the client sees them.
    app.add_middleware(RequestObservation)
    for module in (
        health,
        admin,
        catalog,
        episodes,
        review,
        timeline,
        events,
        pages,
        brands,
        checkout,
        sync,
        webhooks,
        linking,
        detectors,
        jobs,
    ):
        app.include_router(module.router)
    pages.mount_static(app)
    return app


class JobRecovery:
    """At start-up, queue again what the last process left (see `recover_jobs`), on a thread that
    retries until the database answers: the API starts, not ready, without its database."""

    def __init__(self, engine: Engine, queue: JobQueue, *, retry_s: float = RECOVERY_RETRY_S) -> None:
        self._engine, self._queue, self._retry_s = engine, queue, retry_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._recover, name="reelcart-recovery", daemon=True)

    def start(self) -> None:
        """Recover now when the database answers (the usual case), else keep trying on the thread."""
        if not self._attempt():
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _recover(self) -> None:
        while not self._stop.wait(self._retry_s):
            if self._attempt():
                return

    def _attempt(self) -> bool:
        try:
            with session_scope(self._engine) as session:
                jobs = recover_jobs(session)
        except SQLAlchemyError as error:
            log.warning(
                "job recovery: the database is unavailable (%s); trying again in %g s",
                type(error).__name__,
                self._retry_s,
            )
            return False
        for job in jobs:
            self._queue.enqueue(job)
        log.info("job recovery: %d queued job(s) handed to the workers", len(jobs))
        return True
