"""The FastAPI application factory: settings, database, job queue and routers wired in one place."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from api import health, pages
from api.analytics import router as events
from api.brands import admin_router as admin
from api.brands import router as brands
from api.catalog import router as catalog
from api.catalog import sync_router as sync
from api.checkout import router as checkout
from api.commerce_config import commerce_settings
from api.compression import CompressedResponses
from api.cors import AudienceCors
from api.db import create_db_engine
from api.detectors import router as detectors
from api.episodes import router as episodes
from api.episodes.service import stored_file_names
from api.housekeeping import sweep_orphaned_episode_files, sweep_stale_part_files
from api.jobs import router as jobs
from api.jobs.handlers import job_handlers
from api.jobs.queue import JobKind, JobQueue, ThreadJobQueue
from api.jobs.recovery import JobSupervisor, mark_published
from api.jobs.runner import retry_delay_s
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
from commerce.settings import CommerceSettings

log = logging.getLogger("reelcart.api")


class ConfigurationError(ValueError):
    """Settings that cannot make a working API (said at start-up, not at the first job)."""


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
    supervisor: JobSupervisor | None = None
    if job_queue is None:
        job_queue = _job_queue(
            settings, engine, linking_service, tag_function, lambda: commerce_settings(app.state, settings)
        )
        if isinstance(job_queue, ThreadJobQueue):
            # One box: jobs queued before a restart, and those whose thread died, go back to the threads.
            supervisor = JobSupervisor(engine, settings, job_queue.enqueue, outbox=False)
    queue = job_queue

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        undo_logging = configure_logging(settings.log_format)
        settings.media_dir.mkdir(parents=True, exist_ok=True)
        sweep_stale_part_files(settings.media_dir)
        _sweep_orphaned_episode_files(engine, settings)
        # A broker-backed queue starts its own supervisor (it publishes what was never published).
        queue.start()
        if supervisor is not None:
            supervisor.start()
        yield
        if supervisor is not None:
            supervisor.stop()
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


def _job_queue(
    settings: ApiSettings,
    engine: Engine,
    linking: LinkingService,
    tag_function: TagFunction | None,
    commerce: Callable[[], CommerceSettings],
) -> JobQueue:
    """A broker URL: jobs go to Celery workers (the module is imported only then). None: this process's
    threads run them — and a web-only node (no threads) would leave them queued forever, so it refuses."""
    if settings.broker_url is not None:
        from api.jobs.celery_app import CeleryJobQueue  # noqa: PLC0415

        return CeleryJobQueue(settings, engine)
    if settings.worker_threads == 0:
        raise ConfigurationError(
            "REELCART_WORKER_THREADS=0 makes a web-only API node, whose jobs only Celery workers run: "
            "set REELCART_BROKER_URL (e.g. redis://127.0.0.1:6379/1) and run `reelcart worker`, or give "
            "this node worker threads"
        )
    queue = ThreadJobQueue(
        workers=settings.worker_threads,
        # A long transcode or training run must not hold the thread tag and link jobs wait for.
        own_thread=frozenset({JobKind.TRAIN, JobKind.TRANSCODE}),
        handed_out=partial(mark_published, engine),
        # A job whose handler found the database down is offered again, backing off as a retry does.
        # (at least a second: REELCART_JOB_RETRY_BACKOFF_S=0 must not make it a busy loop)
        outage_delay_s=lambda outages: max(1.0, retry_delay_s(settings, outages)),
    )
    queue.bind(job_handlers(engine, settings, linking, queue, commerce, tag_function))
    return queue


def _sweep_orphaned_episode_files(engine: Engine, settings: ApiSettings) -> None:
    """Complete episode files a crash left unnamed (see api.housekeeping); an API that cannot read the
    database yet starts anyway, and the next start sweeps."""
    try:
        with Session(engine) as session:
            referenced = stored_file_names(session)
    except SQLAlchemyError as error:
        log.warning("episode files not swept: the database could not be read (%s)", type(error).__name__)
        return
    sweep_orphaned_episode_files(settings.media_dir, referenced)
