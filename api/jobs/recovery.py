"""Keeping every job moving whatever happens to the processes and the broker: one supervisor thread
per process that hands out jobs (the API's, or a one-box process's).

Each round it
1. queues again the running jobs whose heartbeat is older than the lease: their worker died, or is
   paused past its lease (its late writes are refused, see api.jobs.lease). A job that has lost its
   worker `job_max_attempts` times is failed instead, so a job that kills its worker cannot loop;
2. offers the jobs waiting for a worker: on one box (threads), every queued job at start-up and then
   every queued job never handed to a thread (queued again in step 1, or queued by another process:
   `reelcart catalog import` and `sync` queue their re-links, which the serving process runs); with a
   broker, every queued job whose message was never published (the broker was down when it was
   created, or it was just queued again) or was published so long ago that the broker must have lost
   it. On one box each job is taken with a conditional UPDATE of `published_at`, so of several
   processes sharing the database one hands it out.

After its first round of a UTC day it also folds the analytics day counts of the days no event can land
on any more (`api.analytics.counting.fold_day_counts`): the one periodic upkeep the API has, kept on this
thread rather than a thread of its own.

Why re-publish rather than trust the broker's redelivery for a lost worker: redelivery does not say
the other attempt is dead. A SIGKILLed worker's message comes back at once (reject on worker lost),
while its lease still runs; a paused worker's never comes back until the visibility timeout (hours).
The heartbeat lease is the one judge of "this attempt is gone"; a redelivered message for a job that
is still `running` is dropped by the claim (api.jobs.progress.claim_job), and this supervisor publishes
the job again once its lease has run out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, Engine, and_, or_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from api.analytics.counting import fold_day_counts
from api.catalog.models import ImageFetchJob, ProductImage
from api.columns import utcnow
from api.db import session_scope
from api.episodes.models import TagJob, TranscodeJob
from api.episodes.transcode_job import settle_failed_transcode
from api.jobs.models import JobPhase, JobState
from api.jobs.queue import JobRef
from api.jobs.tables import JOB_TABLES, PHASED_TABLES
from api.jobs.tagging import settle_failed_tag_job
from api.settings import ApiSettings

log = logging.getLogger("reelcart.jobs")


def requeue_stale_jobs(session: Session, *, lease_s: float, max_attempts: int) -> list[JobRef]:
    """Running jobs whose worker stopped beating go back to queued, unpublished (their work is redone
    from the start; every kind is idempotent), or to failed once they have had `max_attempts`.
    Returns the requeued ones."""
    cutoff = utcnow() - timedelta(seconds=lease_s)
    requeued: list[JobRef] = []
    for kind, table in JOB_TABLES:
        stale = and_(
            col(table.state) == JobState.RUNNING,
            or_(col(table.heartbeat_at).is_(None), col(table.heartbeat_at) < cutoff),
        )
        # Conditional UPDATEs: a job whose worker beats (or finishes) meanwhile is not taken from it.
        given_up = session.execute(
            update(table)
            .where(stale, col(table.attempts) >= max_attempts)
            .values(
                state=JobState.FAILED,
                finished_at=utcnow(),
                error=f"its worker stopped answering on each of {max_attempts} attempts (killed, crashed, "
                f"or paused past the {lease_s:g} s lease); not tried again",
            )
            .returning(col(table.id))
        ).all()
        for row in given_up:
            log.error("%s job %s lost its worker %d times; failed", kind, row[0], max_attempts)
        if table is TagJob:
            # As a tag job's own failure does: its summary says why, its phase is `finished`, and its
            # episode is no longer being tagged.
            for row in given_up:
                tag_job = session.get(TagJob, row[0], populate_existing=True)
                if tag_job is not None:
                    settle_failed_tag_job(session, tag_job)
            session.flush()
        if table is TranscodeJob:
            # Its episode would otherwise stay `processing` for ever: it is unplayable, saying why.
            for row in given_up:
                transcode = session.get(TranscodeJob, row[0], populate_existing=True)
                if transcode is not None:
                    settle_failed_transcode(session, transcode, drop_source=True)
            session.flush()
        reset: dict[str, object] = {"state": JobState.QUEUED, "progress": 0.0, "published_at": None}
        if table in PHASED_TABLES:
            reset["phase"] = JobPhase.QUEUED
        rows = session.execute(update(table).where(stale).values(**reset).returning(col(table.id))).all()
        requeued.extend(JobRef(kind, row[0]) for row in rows)
    session.expire_all()
    for job in requeued:
        log.warning(
            "%s job %s lost its worker (no heartbeat for %g s); queued again", job.kind, job.id, lease_s
        )
    return requeued


def queue_due_image_retries(session: Session) -> list[ImageFetchJob]:
    """An image-fetch job (queued, not yet handed out: this round offers it) for each brand with an
    image URL whose retry is due (`api.catalog.remote_images`) and no fetch queued or running: a retry
    must not wait for the brand's next tag or link job, which may never come."""
    due = and_(
        col(ProductImage.path).is_(None),
        col(ProductImage.source_url).is_not(None),
        col(ProductImage.fetch_retry_at) <= utcnow(),
    )
    brands = set(session.exec(select(ProductImage.brand_id).where(due).distinct()).all())
    fetching = set(
        session.exec(
            select(ImageFetchJob.brand_id).where(
                col(ImageFetchJob.state).in_([JobState.QUEUED, JobState.RUNNING])
            )
        ).all()
    )
    jobs = [ImageFetchJob(brand_id=brand_id) for brand_id in sorted(brands - fetching)]
    session.add_all(jobs)
    session.flush()
    for job in jobs:
        log.info(
            "image-fetch job %s queued: brand %s has image URLs due to be tried again", job.id, job.brand_id
        )
    return jobs


def queued_jobs(session: Session) -> list[JobRef]:
    """Queued jobs of every kind in one first-come order (oldest first)."""
    queued: list[tuple[datetime, JobRef]] = []
    for kind, table in JOB_TABLES:
        statement = select(table.id, table.created_at).where(col(table.state) == JobState.QUEUED)
        queued.extend(
            (created_at, JobRef(kind, job_id)) for job_id, created_at in session.exec(statement).all()
        )
    return [job for _, job in sorted(queued, key=lambda item: item[0])]


def unpublished_jobs(session: Session, *, republish_after_s: float | None) -> list[JobRef]:
    """Queued jobs (oldest first) with no message on the broker: never published, or published more
    than `republish_after_s` ago (None: never again) and still not picked up."""
    pending: list[tuple[datetime, JobRef]] = []
    for kind, table in JOB_TABLES:
        unpublished: ColumnElement[bool] = col(table.published_at).is_(None)
        if republish_after_s is not None:
            overdue = utcnow() - timedelta(seconds=republish_after_s)
            unpublished = or_(unpublished, col(table.published_at) < overdue)
        statement = select(table.id, table.created_at).where(col(table.state) == JobState.QUEUED, unpublished)
        pending.extend(
            (created_at, JobRef(kind, job_id)) for job_id, created_at in session.exec(statement).all()
        )
    return [job for _, job in sorted(pending, key=lambda item: item[0])]


def take_for_threads(session: Session, *, every_queued: bool, grace_s: float) -> list[JobRef]:
    """Queued jobs (oldest first) this one-box process takes for its threads: every queued one (at
    start-up: what the threads held died with the last process), else the ones never handed out that
    were queued again or are older than `grace_s` (a route hands its new job to the threads just after
    committing it; taking it in between would only put a second copy in a lane). Each is taken by
    setting `published_at` in a conditional UPDATE; a job another process took meanwhile is left to
    it."""
    candidates = queued_jobs(session) if every_queued else unpublished_jobs(session, republish_after_s=None)
    settled = utcnow() - timedelta(seconds=grace_s)
    taken = []
    for job in candidates:
        table = dict(JOB_TABLES)[job.kind]
        where = [col(table.id) == job.id, col(table.state) == JobState.QUEUED]
        if not every_queued:
            where.append(col(table.published_at).is_(None))
            where.append(or_(col(table.attempts) > 0, col(table.created_at) < settled))
        result = session.execute(update(table).where(*where).values(published_at=utcnow()))
        if int(getattr(result, "rowcount", 0)) == 1:
            taken.append(job)
    return taken


def mark_published(engine: Engine, job: JobRef) -> None:
    table = dict(JOB_TABLES)[job.kind]
    with session_scope(engine) as session:
        session.execute(
            update(table)
            .where(col(table.id) == job.id, col(table.state) == JobState.QUEUED)
            .values(published_at=utcnow())
        )


class JobSupervisor:
    """The thread described above. `offer` hands a job to the queue (a thread queue's `enqueue`, or a
    broker publish, which answers False when the broker did not take it); with `outbox`, what is
    offered is what was never published (or was long ago), else (one box) what `take_for_threads`
    takes: every queued job in the first round, the ones never handed out after. A round that finds
    the database down is tried again at the next one, so the API starts, not ready, without its
    database."""

    def __init__(
        self, engine: Engine, settings: ApiSettings, offer: Callable[[JobRef], object], *, outbox: bool
    ) -> None:
        self._engine, self._settings, self._offer, self._outbox = engine, settings, offer, outbox
        self._recovered = False
        # The last day before which the analytics day counts were folded by this process (None: not yet).
        self._folded_before: date | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reelcart-job-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def run_once(self) -> list[JobRef]:
        """One round; returns what it offered."""
        settings = self._settings
        with session_scope(self._engine) as session:
            requeue_stale_jobs(session, lease_s=settings.job_lease_s, max_attempts=settings.job_max_attempts)
        with session_scope(self._engine) as session:
            queue_due_image_retries(session)
        with session_scope(self._engine) as session:
            if self._outbox:
                offered = unpublished_jobs(session, republish_after_s=settings.job_republish_after_s)
            else:
                # The requeued ones are among them: queued again, unpublished.
                offered = take_for_threads(
                    session, every_queued=not self._recovered, grace_s=settings.job_supervise_s
                )
        self._recovered = True
        for position, job in enumerate(offered):
            # An offer that answers False (a broker that did not answer) ends the round: the rest would
            # each wait for it too; they are offered again next round.
            if self._offer(job) is False:
                log.warning("job supervisor: %d job(s) wait for the broker", len(offered) - position)
                return offered[:position]
        return offered

    def fold_counts_if_due(self) -> int | None:
        """Once a UTC day per process, fold the analytics day counts of the days before yesterday
        (`fold_day_counts`); returns how many rows it folded, None when not due. Several processes each fold
        once a day: after the first, there is nothing left to fold. A fold that fails is not tried again
        before the next day, whose fold takes the days it left too."""
        before = utcnow().date() - timedelta(days=1)
        if self._folded_before == before:
            return None
        self._folded_before = before
        try:
            with session_scope(self._engine) as session:
                folded = fold_day_counts(session, before=before)
        except SQLAlchemyError as error:
            log.warning(
                "analytics: folding the day counts before %s failed (%s); tried again tomorrow",
                before,
                str(error).splitlines()[0],
            )
            return None
        if folded:
            log.info("analytics: %d day-count row(s) of the days before %s folded", folded, before)
        return folded

    def _loop(self) -> None:
        while True:
            try:
                offered = self.run_once()
                if offered:
                    log.info("job supervisor: %d job(s) handed to the workers", len(offered))
                # After the round's offers: it never holds them back (a fold reads only the unfolded rows, a
                # day or two of them, through their own index).
                self.fold_counts_if_due()
            except SQLAlchemyError as error:
                log.warning(
                    "job supervisor: the database is unavailable (%s); trying again in %g s",
                    type(error).__name__,
                    self._settings.job_supervise_s,
                )
            except Exception:
                log.exception(
                    "job supervisor round failed; trying again in %g s", self._settings.job_supervise_s
                )
            if self._stop.wait(self._settings.job_supervise_s):
                return
