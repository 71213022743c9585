"""Executing a TagJob: run the tagger over the episode file and store its placements, or fail cleanly."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, and_, delete
from sqlmodel import Session, col, select

from api.analytics.models import Event
from api.brands.models import Brand
from api.catalog.service import has_variant, product_for_placement
from api.checkout.models import CheckoutSession, Order
from api.columns import utcnow
from api.db import session_scope
from api.episodes.models import Episode, EpisodeStatus, TagJob
from api.jobs.lease import LeaseLostError, held_lease
from api.jobs.models import JobPhase, JobState
from api.jobs.progress import JobProgress
from api.jobs.runner import JobRunner
from api.review.models import (
    LINKER_ACTOR,
    PRODUCT_DELETED,
    Placement,
    PlacementStatus,
    ReviewAction,
    linker_action,
)
from api.review.schemas import SkuCandidate
from api.settings import ApiSettings
from api.timeline.service import rebuild_timeline
from tagger.exceptions import TaggerError

log = logging.getLogger("reelcart.jobs")


class ProgressCallback(Protocol):
    """Report the job's overall progress (0..1), and the phase it is in when that changes."""

    def __call__(self, fraction: float, phase: JobPhase | None = None) -> None: ...


@dataclass(frozen=True)
class PlacementDraft:
    """What the tagger found, in the shape the database stores."""

    start_ms: int
    end_ms: int
    start_frame: int
    end_frame: int
    label: str
    confidence: float
    keyframes: list[dict[str, Any]]
    time_base: str = "1/1000"
    thumbnail_path: str | None = None
    sku_candidates: list[SkuCandidate] = field(default_factory=list)
    link_confidence: float | None = None
    chosen_product_id: uuid.UUID | None = None
    status: PlacementStatus = PlacementStatus.PROPOSED
    index_version: str | None = None
    link_evidence: str | None = None
    link_contradicted: bool = False
    link_approval_level: float | None = None
    link_inputs: dict[str, Any] | None = None


@dataclass(frozen=True)
class TagOutcome:
    """A tag run's placements, and what explains them when they say too little on their own."""

    drafts: Sequence[PlacementDraft]
    # Why nothing was found (where the tagger's funnel closed); None when there are drafts.
    empty_reason: str | None = None
    # Why the drafts carry no SKU links (no embedder, an empty catalog…); None when they were linked.
    unlinked_reason: str | None = None
    # Seconds by phase (index, decode, detect, track, link; decode overlaps detect and track).
    seconds: dict[str, float] = field(default_factory=dict)
    # Placements dropped after linking because no catalog product explains them.
    unexplained: int = 0
    # The shots the cut detector found, (start_ms, end_ms) in order; None: not reported (the episode keeps
    # the shots it had).
    shots: Sequence[tuple[int, int]] | None = None


class TagFunction(Protocol):
    """Tag one episode file. Raises `TaggerError` for media or model problems."""

    def __call__(
        self, media_path: Path, *, brand_id: uuid.UUID, thumbnails_dir: Path, progress: ProgressCallback
    ) -> TagOutcome: ...


def tag_summary(outcome: TagOutcome, floor: float) -> str:
    """One sentence for the job resource: how many placements and what became of them, or why none."""
    drafts = outcome.drafts
    if not drafts:
        return f"no placements: {outcome.empty_reason or 'nothing was found'}"
    approved = sum(draft.status is PlacementStatus.APPROVED for draft in drafts)
    unknown = sum(
        draft.status is not PlacementStatus.APPROVED
        and (draft.link_confidence is None or draft.link_confidence < floor)
        for draft in drafts
    )
    noun = "placement" if len(drafts) == 1 else "placements"
    text = f"{len(drafts)} {noun}: {approved} approved automatically, {len(drafts) - approved} for review"
    if outcome.unlinked_reason is not None:
        return f"{text} (not linked to the catalog: {outcome.unlinked_reason})"
    if unknown:
        text += f" ({unknown} with no link above the brand's floor of {floor:.2f}: unknown products)"
    if outcome.unexplained:
        text += f"; {outcome.unexplained} more dropped: no catalog product explains them"
    return text


class TagJobExecutor:
    """Handles one job id end to end; safe to call from any worker thread or process."""

    def __init__(self, engine: Engine, settings: ApiSettings, tag_function: TagFunction) -> None:
        self._engine = engine
        self._settings = settings
        self._tag = tag_function
        self._runner = JobRunner(engine, settings, TagJob, "tag job")

    def __call__(self, job_id: uuid.UUID) -> None:
        claimed = self._runner.claim(job_id, self._prepare)
        if claimed is None:
            return
        media_path, brand_id, episode_id, attempt = claimed

        def work() -> None:
            progress = JobProgress(self._engine, TagJob, job_id, attempt)
            outcome = self._tag(
                media_path,
                brand_id=brand_id,
                thumbnails_dir=self._settings.media_dir / "thumbnails" / str(episode_id),
                progress=progress.report,
            )
            progress.report(0.99, JobPhase.STORE)
            self._store(job_id, attempt, outcome)

        self._runner.run(
            job_id,
            attempt,
            work,
            reasons={TaggerError: str, LeaseLostError: str},
            fail=partial(self._fail, job_id, attempt),
        )

    @staticmethod
    def _prepare(session: Session, job: TagJob) -> tuple[Path, uuid.UUID, uuid.UUID, int] | None:
        episode = session.get(Episode, job.episode_id)
        if episode is None:
            job.state, job.error, job.finished_at = JobState.FAILED, "episode no longer exists", utcnow()
            return None
        episode.status = EpisodeStatus.TAGGING
        job.phase = JobPhase.DETECT
        return Path(episode.media_path), episode.brand_id, episode.id, job.attempts

    def _store(self, job_id: uuid.UUID, attempt: int, outcome: TagOutcome) -> None:
        drafts = outcome.drafts
        with session_scope(self._engine) as session:
            job = held_lease(session, TagJob, job_id, attempt, writing="placements")
            if not isinstance(job, TagJob):
                return
            episode = session.get(Episode, job.episode_id)
            if episode is None:
                return
            # The products the linker approved, locked before the placements (as a deletion takes them):
            # a deletion under way is waited for, and its product's drafts then wait for review.
            drafts = _still_sellable(session, episode.brand_id, drafts)
            kept = replace_machine_placements(session, episode.id)
            new = [draft for draft in drafts if not any(_same_object(draft, old) for old in kept)]
            approved: list[Placement] = []
            for draft in new:
                placement = Placement(
                    brand_id=episode.brand_id,
                    episode_id=episode.id,
                    tag_job_id=job.id,
                    start_ms=draft.start_ms,
                    end_ms=draft.end_ms,
                    start_frame=draft.start_frame,
                    end_frame=draft.end_frame,
                    time_base=draft.time_base,
                    label=draft.label,
                    confidence=draft.confidence,
                    keyframes=draft.keyframes,
                    sku_candidates=[candidate.stored() for candidate in draft.sku_candidates],
                    link_confidence=draft.link_confidence,
                    link_evidence=draft.link_evidence,
                    link_contradicted=draft.link_contradicted,
                    link_approval_level=draft.link_approval_level,
                    link_inputs=draft.link_inputs,
                    chosen_product_id=draft.chosen_product_id,
                    status=draft.status,
                    approved_by_linker=draft.status == PlacementStatus.APPROVED,
                    thumbnail_path=draft.thumbnail_path,
                    index_version=draft.index_version,
                )
                session.add(placement)
                if placement.approved_by_linker:
                    approved.append(placement)
            session.flush()
            # The linker's approvals start the placements' history, as a re-link's later changes do.
            session.add_all(linker_action(placement, "approve", before={}) for placement in approved)
            job.state, job.progress, job.finished_at = JobState.DONE, 1.0, utcnow()
            # The count and the summary tell what this run stored, as stored (a draft whose product was
            # deleted meanwhile is a proposal); the drafts a kept placement stands for are told apart.
            job.phase, job.placements_found, job.error = JobPhase.FINISHED, len(new), None
            job.seconds = dict(outcome.seconds)
            brand = session.get(Brand, episode.brand_id)
            floor = brand.link_floor if brand is not None else 0.0
            job.summary = tag_summary(replace(outcome, drafts=new), floor)
            if len(new) < len(drafts):
                unchanged = f"{len(drafts) - len(new)} already reviewed or sold from, kept as they were"
                job.summary = f"{job.summary}; {unchanged}" if new else f"no new placements: {unchanged}"
            episode.status = EpisodeStatus.TAGGED
            if outcome.shots is not None:
                episode.shots = [[start, end] for start, end in outcome.shots]
            session.flush()
            rebuild_timeline(session, episode, self._settings)

    def _fail(self, job_id: uuid.UUID, attempt: int, reason: str) -> None:
        with session_scope(self._engine) as session:
            job = held_lease(session, TagJob, job_id, attempt, writing="failure")
            if not isinstance(job, TagJob):
                return
            job.state, job.error, job.finished_at = JobState.FAILED, reason, utcnow()
            settle_failed_tag_job(session, job)


def settle_failed_tag_job(session: Session, job: TagJob) -> None:
    """The rest of a failed tag job (its state, error and finish time already set), whoever failed it:
    the job itself, or the supervisor giving up on a job whose worker kept dying. Its summary names the
    phase it failed in and why, and its phase becomes `finished`. Its episode is no longer being
    tagged: a failed job stores nothing, so an episode an earlier tag stands for (it has placements,
    whose approved hotspots stay on its timeline, or a tag job on it finished) stays `tagged`, and the
    summary says so; one never tagged is `failed`."""
    episode = session.get(Episode, job.episode_id)
    tagged_before = episode is not None and _tagged_before(session, episode.id)
    job.summary = f"failed while in phase {job.phase}: {job.error}"
    if tagged_before:
        job.summary += "; the episode keeps its earlier tag's placements"
    job.phase = JobPhase.FINISHED
    if episode is not None:
        episode.status = EpisodeStatus.TAGGED if tagged_before else EpisodeStatus.FAILED


def _tagged_before(session: Session, episode_id: uuid.UUID) -> bool:
    has_placements = session.exec(
        select(Placement.id).where(col(Placement.episode_id) == episode_id).limit(1)
    ).first()
    finished_tag = session.exec(
        select(TagJob.id)
        .where(col(TagJob.episode_id) == episode_id, col(TagJob.state) == JobState.DONE)
        .limit(1)
    ).first()
    return has_placements is not None or finished_tag is not None


def replace_machine_placements(session: Session, episode_id: uuid.UUID) -> list[Placement]:
    """A re-tag replaces the previous runs' placements as one unit, except what people made their own:
    a placement a reviewer acted on, or one a shopper saw or bought from (its events, checkouts and
    orders keep pointing at it). Deletes the rest; returns the kept ones."""
    # Locked: a re-link writing the linker's history entry on one of them waits for this job's commit,
    # then finds the placement gone, rather than adding a row the delete below would trip over.
    placements = list(
        session.exec(
            select(Placement)
            .where(Placement.episode_id == episode_id)
            .order_by(col(Placement.id))
            .with_for_update()
        ).all()
    )
    ids = [placement.id for placement in placements]
    if not ids:
        return []
    touched: set[uuid.UUID] = set()
    # A re-link's own history entries (LINKER_ACTOR) are no person's, nor is a product's deletion, which
    # decided nothing about the placement: only the others make it theirs.
    people = and_(col(ReviewAction.actor) != LINKER_ACTOR, col(ReviewAction.action) != PRODUCT_DELETED)
    for column, where in (
        (col(ReviewAction.placement_id), people),
        (col(Event.placement_id), None),
        (col(CheckoutSession.placement_id), None),
        (col(Order.placement_id), None),
    ):
        statement = select(column).where(column.in_(ids))
        if where is not None:
            statement = statement.where(where)
        touched.update(value for value in session.exec(statement.distinct()).all() if value)
    # A person's drawing is theirs whatever its history says.
    touched.update(placement.id for placement in placements if placement.drawn_by_hand)
    doomed = [placement_id for placement_id in ids if placement_id not in touched]
    if doomed:
        session.execute(delete(ReviewAction).where(col(ReviewAction.placement_id).in_(doomed)))
        session.execute(delete(Placement).where(col(Placement.id).in_(doomed)))
    return [placement for placement in placements if placement.id in touched]


def _still_sellable(
    session: Session, brand_id: uuid.UUID, drafts: Sequence[PlacementDraft]
) -> list[PlacementDraft]:
    """The drafts, with each approved product key-share locked in id order (`product_for_placement`);
    a draft approved as a product deleted since the job built its index becomes a proposal without one,
    instead of failing the job's commit on the foreign key, and so does one approved as a product with no
    variant (nothing to buy): its candidates still name it for the person who reviews it (a chosen product
    on a proposal is only ever a person's pick)."""
    chosen = sorted({draft.chosen_product_id for draft in drafts if draft.chosen_product_id is not None})
    gone = {
        product_id for product_id in chosen if product_for_placement(session, brand_id, product_id) is None
    }
    # (The linker chooses a product only for a draft it approves.)
    withheld = gone | {
        product_id for product_id in chosen if product_id not in gone and not has_variant(session, product_id)
    }
    return [
        replace(draft, chosen_product_id=None, status=PlacementStatus.PROPOSED)
        if draft.chosen_product_id in withheld
        else draft
        for draft in drafts
    ]


def _same_object(draft: PlacementDraft, kept: Placement) -> bool:
    """A new draft that a kept placement already stands for: same detector label (for one a person drew,
    the product it sells is the draft's chosen or top product), and the two spans overlap by at least
    half of the shorter one."""
    if kept.drawn_by_hand:
        draft_product = draft.chosen_product_id or (
            draft.sku_candidates[0].product_id if draft.sku_candidates else None
        )
        if kept.chosen_product_id is None or draft_product != kept.chosen_product_id:
            return False
    elif draft.label != kept.label:
        return False
    overlap = min(draft.end_ms, kept.end_ms) - max(draft.start_ms, kept.start_ms)
    shorter = min(draft.end_ms - draft.start_ms, kept.end_ms - kept.start_ms)
    return overlap > 0 and overlap >= 0.5 * max(shorter, 1)
