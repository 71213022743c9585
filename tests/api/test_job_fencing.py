"""Exactly-once effects: a stalled attempt whose job was taken over writes nothing, and a re-tag replaces
the machine's placements as one unit while keeping what people made their own."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from api.analytics.models import Event
from api.episodes.models import Episode, TagJob
from api.jobs.lease import held_lease
from api.jobs.models import JobState
from api.jobs.recovery import requeue_stale_jobs
from api.jobs.tagging import PlacementDraft, ProgressCallback, TagJobExecutor, TagOutcome
from api.review.models import LINKER_ACTOR, PRODUCT_DELETED, Placement, PlacementStatus, ReviewAction
from api.settings import ApiSettings
from tests.api.factories import make_episode, make_product
from tests.utils.api import BrandAccount, make_video


def draft(start_ms: int, label: str = "bottle", **changes: object) -> PlacementDraft:
    values: dict[str, object] = {
        "start_ms": start_ms,
        "end_ms": start_ms + 2000,
        "start_frame": start_ms * 30 // 1000,
        "end_frame": (start_ms + 2000) * 30 // 1000,
        "label": label,
        "confidence": 0.8,
        "keyframes": [{"t_ms": start_ms, "box": [0.1, 0.2, 0.3, 0.4]}],
    }
    values.update(changes)
    return PlacementDraft(**values)  # type: ignore[arg-type]


class Tagger:
    """Returns fixed drafts; `during` runs inside the tag function, while the attempt is in flight."""

    def __init__(self, drafts: list[PlacementDraft], during: Callable[[], None] | None = None) -> None:
        self.drafts, self.during = drafts, during

    def __call__(
        self, media_path: Path, *, brand_id: uuid.UUID, thumbnails_dir: Path, progress: ProgressCallback
    ) -> TagOutcome:
        if self.during is not None:
            self.during()
        return TagOutcome(self.drafts)


@pytest.fixture
def episode(engine: Engine, settings: ApiSettings, brand: BrandAccount, tmp_path: Path) -> Episode:
    return make_episode(engine, brand.brand.id, settings, media_path=str(make_video(tmp_path / "e.mp4")))


def queue_tag_job(engine: Engine, episode: Episode) -> uuid.UUID:
    with Session(engine, expire_on_commit=False) as session:
        job = TagJob(brand_id=episode.brand_id, episode_id=episode.id)
        session.add(job)
        session.commit()
        return job.id


def placements(engine: Engine, episode: Episode) -> list[tuple[int, str, PlacementStatus]]:
    with Session(engine) as session:
        rows = session.exec(
            select(Placement).where(Placement.episode_id == episode.id).order_by(col(Placement.start_ms))
        ).all()
        return [(row.start_ms, row.label, row.status) for row in rows]


def test_a_stalled_attempt_taken_over_by_another_worker_writes_nothing(
    engine: Engine, settings: ApiSettings, episode: Episode, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = queue_tag_job(engine, episode)
    takeover = TagJobExecutor(engine, settings, Tagger([draft(0), draft(5000)]))

    def stall_then_lose_the_job() -> None:
        # The first attempt stalls past its heartbeat: the reaper requeues the job and a second worker
        # runs it to the end before the first one wakes.
        with Session(engine) as session:
            session.execute(update(TagJob).where(col(TagJob.id) == job_id).values(heartbeat_at=None))
            assert [ref.id for ref in requeue_stale_jobs(session, lease_s=60, max_attempts=3)] == [job_id]
            session.commit()
        takeover(job_id)

    stalled = TagJobExecutor(
        engine, settings, Tagger([draft(0), draft(5000), draft(9000)], stall_then_lose_the_job)
    )
    with caplog.at_level(logging.WARNING, logger="reelcart.jobs"):
        stalled(job_id)

    with Session(engine) as session:
        job = session.get(TagJob, job_id)
        assert job is not None
        assert (job.state, job.attempts, job.placements_found, job.error) == (JobState.DONE, 2, 2, None)
    # The second attempt's two placements, once: the stalled attempt's three never landed.
    assert placements(engine, episode) == [
        (0, "bottle", PlacementStatus.PROPOSED),
        (5000, "bottle", PlacementStatus.PROPOSED),
    ]
    assert (
        "attempt 1 no longer holds the job (state done, attempt 2); its placements is refused" in caplog.text
    )


def test_held_lease_is_refused_to_an_old_attempt_and_to_a_finished_job(
    engine: Engine, episode: Episode
) -> None:
    job_id = queue_tag_job(engine, episode)
    with Session(engine) as session:
        session.execute(
            update(TagJob).where(col(TagJob.id) == job_id).values(state=JobState.RUNNING, attempts=3)
        )
        session.commit()
        assert held_lease(session, TagJob, job_id, 3, writing="results") is not None
        assert held_lease(session, TagJob, job_id, 2, writing="results") is None
        session.execute(update(TagJob).where(col(TagJob.id) == job_id).values(state=JobState.DONE))
        assert held_lease(session, TagJob, job_id, 3, writing="results") is None
        assert held_lease(session, TagJob, uuid.uuid4(), 1, writing="results") is None


def test_re_tagging_replaces_the_machines_placements_approved_ones_included(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, episode: Episode
) -> None:
    product, _ = make_product(engine, brand.brand.id, "Cola 330 ml", sku="COLA-330")  # (something to buy)
    drafts = [
        draft(0, chosen_product_id=product.id, status=PlacementStatus.APPROVED),
        draft(5000),
    ]
    TagJobExecutor(engine, settings, Tagger(drafts))(queue_tag_job(engine, episode))
    # A re-link wrote the linker's own entry in the proposal's history, and a product's deletion its own
    # entry: neither is a person's decision about the placement.
    with Session(engine) as session:
        proposal = session.exec(select(Placement).where(Placement.start_ms == 5000)).one()
        session.add(
            ReviewAction(
                brand_id=brand.brand.id, placement_id=proposal.id, actor=LINKER_ACTOR, action="withdraw"
            )
        )
        session.add(
            ReviewAction(
                brand_id=brand.brand.id, placement_id=proposal.id, actor="key:ops", action=PRODUCT_DELETED
            )
        )
        session.commit()
    TagJobExecutor(engine, settings, Tagger(drafts))(queue_tag_job(engine, episode))

    # One set, not two: the first run's placements, the auto-approved one and the one the linker's
    # history names, did not survive next to their twins.
    assert placements(engine, episode) == [
        (0, "bottle", PlacementStatus.APPROVED),
        (5000, "bottle", PlacementStatus.PROPOSED),
    ]
    # And the linker's history went with the placements replaced: what is left is the new approval's
    with Session(engine) as session:
        approved = session.exec(select(Placement).where(Placement.start_ms == 0)).one()
        actions = session.exec(select(ReviewAction)).all()
        assert [(action.placement_id, action.actor, action.action) for action in actions] == [
            (approved.id, LINKER_ACTOR, "approve")
        ]


def test_re_tagging_keeps_what_people_made_their_own_and_does_not_duplicate_it(
    engine: Engine, settings: ApiSettings, brand: BrandAccount, episode: Episode
) -> None:
    first = [draft(0), draft(5000, label="cup"), draft(9000)]
    TagJobExecutor(engine, settings, Tagger(first))(queue_tag_job(engine, episode))
    with Session(engine) as session:
        rows = {row.start_ms: row for row in session.exec(select(Placement)).all()}
        # A reviewer rejected the bottle at 0 s; a shopper saw the cup at 5 s.
        rows[0].status = PlacementStatus.REJECTED
        session.add(
            ReviewAction(brand_id=brand.brand.id, placement_id=rows[0].id, actor="key:1", action="reject")
        )
        session.add(
            Event(
                type="impression", brand_id=brand.brand.id, episode_id=episode.id, placement_id=rows[5000].id
            )
        )
        session.commit()
        kept_ids = {rows[0].id, rows[5000].id}

    # The detector finds the same three objects again, the bottle a little later, plus a new hat.
    again = [draft(300), draft(5000, label="cup"), draft(9000), draft(12000, label="hat")]
    job_id = queue_tag_job(engine, episode)
    TagJobExecutor(engine, settings, Tagger(again))(job_id)

    assert placements(engine, episode) == [
        (0, "bottle", PlacementStatus.REJECTED),
        (5000, "cup", PlacementStatus.PROPOSED),
        (9000, "bottle", PlacementStatus.PROPOSED),
        (12000, "hat", PlacementStatus.PROPOSED),
    ]
    with Session(engine) as session:
        assert kept_ids <= {row.id for row in session.exec(select(Placement)).all()}
        job = session.get(TagJob, job_id)
        assert job is not None
        assert job.summary is not None
        assert job.summary.endswith("; 2 already reviewed or sold from, kept as they were")
