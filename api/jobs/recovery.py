"""Putting back on the queue what a dead worker left behind, for every kind of job.

A running job whose heartbeat is older than `STALE_AFTER_S` (or that has none: rows written before
heartbeats existed) belongs to a worker that died; anything fresher is still being run somewhere —
by this process, another API process or a `reelcart worker` — and is left alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, update
from sqlmodel import Session, col, select

from api.columns import utcnow
from api.db import session_scope
from api.detectors.models import DetectorTrainJob
from api.episodes.models import TagJob
from api.jobs.models import JobPhase, JobState
from api.jobs.progress import STALE_AFTER_S
from api.jobs.queue import JobKind, JobRef
from api.linking.models import LinkJob

# How often a process with workers looks for jobs whose worker died.
REAP_EVERY_S = 60.0
log = logging.getLogger("reelcart.jobs")

JOB_TABLES: tuple[tuple[JobKind, type[TagJob] | type[LinkJob] | type[DetectorTrainJob]], ...] = (
    (JobKind.TAG, TagJob),
    (JobKind.LINK, LinkJob),
    (JobKind.TRAIN, DetectorTrainJob),
)


def requeue_stale_jobs(session: Session, *, stale_after_s: float = STALE_AFTER_S) -> list[JobRef]:
    """Running jobs whose worker stopped beating go back to queued (their work is redone from the
    start; both kinds are idempotent). Returns them."""
    cutoff = utcnow() - timedelta(seconds=stale_after_s)
    requeued: list[JobRef] = []
    for kind, table in JOB_TABLES:
        stale = or_(col(table.heartbeat_at).is_(None), col(table.heartbeat_at) < cutoff)
        reset: dict[str, object] = {"state": JobState.QUEUED, "progress": 0.0}
        if table is TagJob or table is DetectorTrainJob:
            reset["phase"] = JobPhase.QUEUED
        # One conditional UPDATE: a job whose worker beats (or finishes) meanwhile is not taken from it.
        rows = session.execute(
            update(table)
            .where(col(table.state) == JobState.RUNNING, stale)
            .values(**reset)
            .returning(col(table.id))
        ).all()
        requeued.extend(JobRef(kind, row[0]) for row in rows)
    session.expire_all()
    return requeued


def queued_jobs(session: Session, *, per_kind: int | None = None) -> list[JobRef]:
    """Queued jobs of every kind in one first-come order (oldest first); `per_kind` caps how many of
    each kind are read (the oldest ones)."""
    queued: list[tuple[datetime, JobRef]] = []
    for kind, table in JOB_TABLES:
        statement = (
            select(table.id, table.created_at)
            .where(col(table.state) == JobState.QUEUED)
            .order_by(col(table.created_at))
            .limit(per_kind)
        )
        queued.extend(
            (created_at, JobRef(kind, job_id)) for job_id, created_at in session.exec(statement).all()
        )
    return [job for _, job in sorted(queued, key=lambda item: item[0])]


def recover_jobs(session: Session, *, stale_after_s: float = STALE_AFTER_S) -> list[JobRef]:
    """At start-up: requeue stale running jobs, then return every queued job, oldest first."""
    requeue_stale_jobs(session, stale_after_s=stale_after_s)
    return queued_jobs(session)


class StaleJobReaper:
    """Every `every_s`, requeues the running jobs whose worker died (see `requeue_stale_jobs`) and
    hands each to `on_requeued` (the API's in-process queue; a polling worker finds them itself)."""

    def __init__(
        self,
        engine: Engine,
        *,
        every_s: float = REAP_EVERY_S,
        on_requeued: Callable[[JobRef], None] | None = None,
    ) -> None:
        self._engine, self._every_s, self._on_requeued = engine, every_s, on_requeued
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reelcart-reaper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def reap(self) -> list[JobRef]:
        with session_scope(self._engine) as session:
            requeued = requeue_stale_jobs(session)
        for job in requeued:
            log.warning("%s job %s lost its worker; queued again", job.kind, job.id)
            if self._on_requeued is not None:
                self._on_requeued(job)
        return requeued

    def _loop(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                self.reap()
            except Exception:
                log.exception("stale-job check failed; trying again in %s s", self._every_s)
