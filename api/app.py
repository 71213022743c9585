"""The FastAPI application factory: settings, database, job queue and routers wired in one place."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import Engine

from api import health, pages
from api.analytics import router as events
from api.brands import admin_router as admin
from api.brands import router as brands
from api.catalog import router as catalog
from api.catalog import sync_router as sync
from api.checkout import router as checkout
from api.compression import CompressedResponses
from api.db import create_db_engine, session_scope
from api.episodes import router as episodes
from api.jobs import router as jobs
from api.jobs.handlers import job_handlers
from api.jobs.queue import DatabaseJobQueue, JobQueue, ThreadJobQueue
from api.jobs.recovery import StaleJobReaper, recover_jobs
from api.jobs.tagging import TagFunction
from api.limits import BodySizeLimit, upload_routes
from api.linking import router as linking
from api.linking.service import LinkingService
from api.problems import install_problem_handlers
from api.review import router as review
from api.settings import ApiSettings, get_settings
from api.timeline import router as timeline
from api.webhooks import router as webhooks

log = logging.getLogger("reelcart.api")



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
        settings.media_dir.mkdir(parents=True, exist_ok=True)
        reaper = StaleJobReaper(engine, on_requeued=queue.enqueue)
        if settings.worker_threads > 0:
            queue.start()
            with session_scope(engine) as session:
                for job in recover_jobs(session):
                    queue.enqueue(job)
            reaper.start()
        yield
        reaper.stop()
        queue.stop()

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

    install_problem_handlers(app)
    app.add_middleware(
        BodySizeLimit,
        json_bytes=settings.max_json_bytes,
        uploads=upload_routes(settings),
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match"],
        expose_headers=["ETag"],
    )
    # Outermost: gzip whatever the layers below answer (timeline, overlay SDK, JSON, problems).
    app.add_middleware(CompressedResponses)
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
        jobs,
    ):
        app.include_router(module.router)
    pages.mount_static(app)
    return app
