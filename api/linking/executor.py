"""Executing a LinkJob: fetch catalog images known only by URL, bring the brand's catalog index up to
date, re-link the placements in scope (none for an index-only job), rebuild timelines.

A product-scoped job (queued when what the linker reads of a product changes: its own-print marks, its
title, vendor, description or variant names) re-links only the placements the linker decided (awaiting
review, or approved by the linker) whose candidates include the product. A job queued by a change to the
brand's linking settings, or by new products, re-links all the placements the linker decided. The
linker's own approvals are decided again like proposals, so one the new link no longer supports is
withdrawn (back in review, off the timeline). A person's decision is kept by every re-link; these
scopes only spare the work on placements a person has decided.

A job queued by a change to the brand's linking thresholds alone (`decide_only`) brings the index up to
date as every job does, then decides each placement linked against that very index again from what its
link's decision weighed (`Placement.link_inputs`) under the new thresholds, in milliseconds and exactly
as linking its crops again would. A placement linked against another index (the catalog changed since),
linked before the inputs were kept, or never asked for the packshots' opinion its new level needs is
linked again from its crops.

Detection is not re-run: each placement is linked again from the crops stored when it was tagged.
The work happens outside any long transaction; each placement linked again is written in its own short
one (see `relink_placement`), so reviewers keep working while a job runs and a crash loses at most one
write. Decisions from stored links are written 200 to a transaction (`_decide_batch`), which never waits
on a lock another transaction holds, so it cannot take part in a deadlock: placements locked elsewhere
are decided one at a time afterwards, and a batch whose episode timeline is being written elsewhere
backs off and tries again.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from api.catalog.image_fetch import ImageFetcher
from api.catalog.remote_images import fetch_pending_images, image_fetcher
from api.columns import utcnow
from api.db import session_scope
from api.episodes.models import Episode
from api.jobs.lease import LeaseLostError, held_lease, require_lease
from api.jobs.models import JobState
from api.jobs.phases import PhaseClock
from api.jobs.progress import JobProgress
from api.jobs.runner import JobRunner
from api.linking.models import LinkJob
from api.linking.service import (
    NO_IMAGES,
    BrandLinker,
    BrandLinkerSource,
    LinkOutcome,
    Relinked,
    decided_by_linker,
    indexed_products,
    outcome,
    placements_naming,
    read_stored_crops,
    redecided_outcome,
    relink_placement,
)
from api.review.models import Placement
from api.settings import ApiSettings
from api.timeline.service import rebuild_timeline
from tagger.exceptions import ModelError
from tagger.linking import CatalogIndexError, LinkingError

log = logging.getLogger("reelcart.jobs")


def _unavailable(error: Exception) -> str:
    return f"linking is unavailable: {error}"


class _RowBusyError(Exception):
    """A row a batch needs is locked by another transaction (an episode's timeline being written, a
    product being deleted): a batch does not wait for it."""


@contextmanager
def _busy_when_locked(row_id: uuid.UUID) -> Iterator[None]:
    """PostgreSQL's lock_not_available (a `NOWAIT` lock another transaction holds) as `_RowBusyError`."""
    try:
        yield
    except OperationalError as error:
        if getattr(error.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise _RowBusyError(row_id) from error
        raise


# Placements decided from their stored links per transaction (a decide-only job): one lease check and one
# rebuild of each episode whose live hotspots changed for the lot, where a withdrawal rebuilt its episode's
# timeline each time (2,000 withdrawals in a 10,000-placement episode: minutes of rebuilding).
DECIDE_BATCH = 200
# A batch whose episode timeline another transaction is writing is rolled back and tried again this many
# times, waiting a little longer each time, then decided placement by placement.
BUSY_RETRIES = 5
BUSY_BACKOFF_S = 0.2
# PostgreSQL's "lock_not_available", what `FOR UPDATE NOWAIT` raises on a row locked elsewhere.
LOCK_NOT_AVAILABLE = "55P03"
# Shares of the progress bar: fetching URL images, then the index build, then the placements. A first
# build of a large catalog dominates; an incremental one over an unchanged catalog takes a moment.
FETCH_SHARE = 0.1
INDEX_SHARE = 0.3


@dataclass
class Relinks:
    """What a job did: placements linked again or decided again from their stored link, approved after
    it (by anyone), approved by it, and the linker's approvals it withdrew or moved to another product."""

    relinked: int = 0
    redecided: int = 0
    approved: int = 0
    auto_approved: int = 0
    withdrawn: int = 0
    moved: int = 0
    episodes: set[uuid.UUID] = field(default_factory=set)

    def add(self, stored: Relinked, *, redecided: bool = False) -> None:
        self.relinked += int(not redecided)
        self.redecided += int(redecided)
        self.approved += int(stored.approved)
        self.auto_approved += int(stored.approved_now)
        self.withdrawn += int(stored.withdrawn)
        self.moved += int(stored.moved)
        self.episodes.add(stored.episode_id)


@dataclass(frozen=True)
class LinkScope:
    brand_id: uuid.UUID
    episode_id: uuid.UUID | None
    index_only: bool
    attempt: int  # the claim's fencing token (api.jobs.lease)
    product_id: uuid.UUID | None = None
    linker_decided_only: bool = False
    decide_only: bool = False


def placements_in_scope(session: Session, scope: LinkScope) -> list[tuple[uuid.UUID, str | None]]:
    """(id, thumbnail path) of the placements the job re-links, oldest first."""
    if scope.product_id is not None:
        return placements_naming(session, scope.brand_id, scope.product_id, scope.episode_id)
    where = [col(Placement.brand_id) == scope.brand_id]
    if scope.episode_id is not None:
        where.append(col(Placement.episode_id) == scope.episode_id)
    if scope.linker_decided_only:
        where.append(decided_by_linker())
    statement = select(Placement.id, Placement.thumbnail_path).where(*where)
    return list(session.exec(statement.order_by(col(Placement.created_at))).all())


class LinkJobExecutor:
    """Handles one link job id end to end; safe to call from any worker thread."""

    def __init__(
        self,
        engine: Engine,
        settings: ApiSettings,
        linking: BrandLinkerSource,
        fetcher: ImageFetcher | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._linking = linking
        self._fetcher = fetcher or image_fetcher(settings)
        self._runner = JobRunner(engine, settings, LinkJob, "link job")

    def __call__(self, job_id: uuid.UUID) -> None:
        scope = self._runner.claim(
            job_id,
            lambda _session, job: LinkScope(
                job.brand_id,
                job.episode_id,
                job.index_only,
                job.attempts,
                job.product_id,
                job.linker_decided_only,
                job.decide_only,
            ),
        )
        if scope is None:
            return
        self._runner.run(
            job_id,
            scope.attempt,
            lambda: self._run(job_id, scope),
            reasons={
                CatalogIndexError: str,
                ModelError: _unavailable,
                # After CatalogIndexError, its subclass: the others say a part of the linker is missing
                # or unusable (the `ocr` extra, the fusion model), in words an operator can act on.
                LinkingError: _unavailable,
                LeaseLostError: str,
            },
            fail=partial(self._fail, job_id, scope.attempt),
        )

    def _run(self, job_id: uuid.UUID, scope: LinkScope) -> None:
        progress = JobProgress(self._engine, LinkJob, job_id, scope.attempt)
        clock = PhaseClock()
        with clock.phase("fetch"):
            fetched = fetch_pending_images(
                self._engine,
                self._settings,
                scope.brand_id,
                self._fetcher,
                on_progress=lambda done, total: progress.report(FETCH_SHARE * done / max(total, 1)),
            )
        with session_scope(self._engine) as session:
            job = require_lease(session, LinkJob, job_id, scope.attempt, writing="fetch counts")
            job.images_fetched, job.images_failed = fetched.fetched, fetched.failed
        index_share = 1.0 - FETCH_SHARE if scope.index_only else INDEX_SHARE
        with clock.phase("index"):
            brand = self._linking.brand_linker(
                scope.brand_id,
                on_progress=lambda done, total: progress.report(
                    FETCH_SHARE + index_share * done / max(total, 1)
                ),
            )
        if brand is None:
            failures = (
                f" ({fetched.failed} image URLs could not be fetched; each image's fetch_error says why"
                + (f", and {fetched.retrying} are tried again later" if fetched.retrying else "")
                + ")"
                if fetched.failed
                else ""
            )
            raise CatalogIndexError(NO_IMAGES + failures)
        if scope.index_only:
            self._finish(job_id, scope.attempt, brand.index_version, clock.seconds, Relinks())
            return
        start = FETCH_SHARE + INDEX_SHARE
        with session_scope(self._engine) as session:
            placements = placements_in_scope(session, scope)
            indexed = indexed_products(session, scope.brand_id)
        counts = Relinks()

        def report(done: int) -> None:
            progress.report(start + (1 - start) * done / len(placements))

        try:
            with clock.phase("link"):
                done, left = 0, placements
                if scope.decide_only:
                    left = []
                    for at in range(0, len(placements), DECIDE_BATCH):
                        batch = placements[at : at + DECIDE_BATCH]
                        decided, cannot = self._decide_batch_or_each(
                            job_id, scope.attempt, brand, indexed, [placement_id for placement_id, _ in batch]
                        )
                        for kept in decided:
                            counts.add(kept, redecided=True)
                        left.extend(item for item in batch if item[0] in cannot)
                        done += len(batch) - len(cannot)
                        report(done)
                for placement_id, thumbnail_path in left:
                    relinked = self._relink_one(
                        job_id, scope.attempt, brand, indexed, placement_id, thumbnail_path
                    )
                    if relinked is not None:
                        counts.add(relinked)
                    done += 1
                    report(done)
        except BaseException:
            # Failing part way: the approvals it stored go on the timeline now, not at some later job's
            # rebuild (withdrawals and moves were taken off at once). The job fails with its own reason.
            self._rebuild_timelines(counts.episodes, quiet=True)
            raise
        with clock.phase("store"):
            self._rebuild_timelines(counts.episodes)
        self._finish(job_id, scope.attempt, brand.index_version, clock.seconds, counts)

    def _rebuild_timelines(self, episodes: set[uuid.UUID], *, quiet: bool = False) -> None:
        """Rebuild these episodes' public timelines; `quiet`: log a failure and go on (the caller is
        already failing with its own reason)."""
        for episode_id in sorted(episodes):
            try:
                with session_scope(self._engine) as session:
                    episode = session.get(Episode, episode_id)
                    if episode is not None:
                        rebuild_timeline(session, episode, self._settings)
            except Exception:
                if not quiet:
                    raise
                log.exception(
                    "the timeline of episode %s was not rebuilt after a failed link job", episode_id
                )

    def _decide_batch_or_each(
        self,
        job_id: uuid.UUID,
        attempt: int,
        brand: BrandLinker,
        indexed: frozenset[uuid.UUID],
        placement_ids: list[uuid.UUID],
    ) -> tuple[list[Relinked], set[uuid.UUID]]:
        """`_decide_batch`, tried again a few times while an episode's timeline is being written
        elsewhere or a product it approves is being deleted, then placement by placement; the placements
        locked elsewhere, one at a time after it. Returns the placements as stored, and the ids whose
        stored link cannot say."""
        for attempt_number in range(BUSY_RETRIES):
            try:
                decided, cannot, locked = self._decide_batch(job_id, attempt, brand, indexed, placement_ids)
                break
            except _RowBusyError:
                time.sleep(BUSY_BACKOFF_S * (attempt_number + 1))
        else:
            decided, cannot, locked = [], set(), list(placement_ids)
        for placement_id in locked:
            # Alone, waiting for its locks as a re-link does: it holds no other.
            one, one_cannot, _ = self._decide_batch(
                job_id, attempt, brand, indexed, [placement_id], wait=True
            )
            decided.extend(one)
            cannot |= one_cannot
        return decided, cannot

    def _decide_batch(
        self,
        job_id: uuid.UUID,
        attempt: int,
        brand: BrandLinker,
        indexed: frozenset[uuid.UUID],
        placement_ids: list[uuid.UUID],
        *,
        wait: bool = False,
    ) -> tuple[list[Relinked], set[uuid.UUID], list[uuid.UUID]]:
        """Decide these placements again from their stored links under the brand's thresholds, in one
        transaction that waits on no lock another holds (unless `wait`, for a lone placement): the
        placements as stored, the ids of those whose stored link cannot say (`redecided_outcome`: link
        them again), and those locked elsewhere (skipped: decide them one at a time). Gone ones are
        skipped. The timelines of the episodes whose live hotspots changed are rebuilt in the same
        commit, once for the batch; raises `_RowBusyError` (all rolled back) when one of them, or a
        product a placement is newly approved as, is locked elsewhere (PostgreSQL; SQLite serializes
        writers)."""
        with session_scope(self._engine) as session:
            require_lease(session, LinkJob, job_id, attempt, writing="decisions")
            # Locked before they are read (a reviewer's decision or another job's link lands before or
            # after this batch, never in between), skipping the ones another transaction holds: waiting
            # for them while holding the others is how two transactions wait on each other.
            rows = session.exec(
                select(Placement)
                .where(col(Placement.id).in_(placement_ids))
                .order_by(col(Placement.id))
                .with_for_update(skip_locked=not wait)
            ).all()
            found = {row.id: row for row in rows}
            locked = [placement_id for placement_id in placement_ids if placement_id not in found]
            if locked:
                # Skipped, or gone: only a look without a lock tells them apart.
                present = set(session.exec(select(Placement.id).where(col(Placement.id).in_(locked))).all())
                locked = [placement_id for placement_id in locked if placement_id in present]
            decided: list[Relinked] = []
            cannot: set[uuid.UUID] = set()
            live_changed: set[uuid.UUID] = set()
            for placement_id in placement_ids:
                placement = found.get(placement_id)
                if placement is None:
                    continue
                again = redecided_outcome(placement, brand)
                if again is None:
                    cannot.add(placement_id)
                    continue
                with _busy_when_locked(placement_id):
                    stored = relink_placement(session, placement_id, again, indexed, wait_for_product=wait)
                if stored is None:
                    continue
                decided.append(stored)
                if stored.withdrawn or stored.moved:
                    live_changed.add(stored.episode_id)
            for episode_id in sorted(live_changed):
                with _busy_when_locked(episode_id):
                    episode = session.exec(
                        select(Episode).where(Episode.id == episode_id).with_for_update(nowait=not wait)
                    ).first()
                if episode is not None:
                    rebuild_timeline(session, episode, self._settings)
            return decided, cannot, locked

    def _finish(
        self,
        job_id: uuid.UUID,
        attempt: int,
        index_version: str,
        seconds: dict[str, float],
        counts: Relinks,
    ) -> None:
        with session_scope(self._engine) as session:
            job = held_lease(session, LinkJob, job_id, attempt, writing="results")
            if isinstance(job, LinkJob):
                job.state, job.progress, job.finished_at, job.error = JobState.DONE, 1.0, utcnow(), None
                job.seconds = dict(seconds)
                job.placements_relinked, job.redecided = counts.relinked, counts.redecided
                job.index_version = index_version
                job.approved, job.auto_approved = counts.approved, counts.auto_approved
                job.withdrawn, job.moved = counts.withdrawn, counts.moved

    def _relink_one(
        self,
        job_id: uuid.UUID,
        attempt: int,
        brand: BrandLinker,
        indexed: frozenset[uuid.UUID],
        placement_id: uuid.UUID,
        thumbnail_path: str | None,
    ) -> Relinked | None:
        """The placement once stored; None when it has no readable crop or is gone.
        Raises `LeaseLostError` when another attempt has taken the job over: it re-links from here on."""
        crops = read_stored_crops(thumbnail_path)
        if not crops:
            return None
        result = outcome(brand.linker.link_track(crops, brand.thresholds), brand)
        with session_scope(self._engine) as session:
            require_lease(session, LinkJob, job_id, attempt, writing="a re-link")
            return self._store(session, placement_id, result, indexed)

    def _store(
        self, session: Session, placement_id: uuid.UUID, result: LinkOutcome, indexed: frozenset[uuid.UUID]
    ) -> Relinked | None:
        stored = relink_placement(session, placement_id, result, indexed)
        if stored is not None and (stored.withdrawn or stored.moved):
            # Off the public timeline (or selling the new product) in the same commit: until the job's
            # last rebuild a shopper would tap a hotspot that checkout now refuses.
            episode = session.get(Episode, stored.episode_id)
            if episode is not None:
                rebuild_timeline(session, episode, self._settings)
        return stored

    def _fail(self, job_id: uuid.UUID, attempt: int, reason: str) -> None:
        with session_scope(self._engine) as session:
            job = held_lease(session, LinkJob, job_id, attempt, writing="failure")
            if isinstance(job, LinkJob):
                job.state, job.error, job.finished_at = JobState.FAILED, reason, utcnow()
