"""The follow job: a drawn placement's box followed through its span (`tagger.follow`) by a worker.

A person draws a product the tagger missed on one frame; the product moves (a hand, a zoom, a pan) while
one box stays put. `POST /v1/placements/{id}/follow-jobs` queues this job, which decodes the episode up to
the end of the span, finds the drawn print in the frames around the drawn one and stores the boxes as the
placement's keyframes, with a history entry by `follower`. A person's edit made while it ran wins: the
job stores nothing then, and says so.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from api.columns import utcnow
from api.db import session_scope
from api.episodes.models import Episode
from api.episodes.service import refuse_unless_playable
from api.jobs.lease import LeaseLostError, held_lease, require_lease
from api.jobs.models import JobState
from api.jobs.phases import PhaseClock
from api.jobs.progress import JobProgress
from api.jobs.runner import JobRunner
from api.review.exceptions import FollowJobInProgress, NotDrawnByHand
from api.review.models import FOLLOWER_ACTOR, FollowJob, Placement, ReviewAction, placement_snapshot
from api.review.service import record_change
from api.settings import ApiSettings


def queue_follow(session: Session, placement: Placement, t_ms: int | None) -> FollowJob:
    """A follow job for the box a person set nearest `t_ms` (the first when None), added to the session;
    the caller commits and enqueues it. A person's boxes, not the follower's: following again starts from
    what was drawn (or moved by hand since), never from a box a follow job derived at another moment."""
    if not placement.drawn_by_hand:
        raise NotDrawnByHand(
            "only a placement drawn by hand is followed (POST /v1/episodes/{id}/placements): the tagger "
            "followed its own placements through their shots already; edit their boxes instead"
        )
    episode = session.get_one(Episode, placement.episode_id)
    refuse_unless_playable(episode)
    refuse_if_following(session, placement.id)
    keyframes = sorted(_persons_keyframes(session, placement), key=lambda frame: int(frame["t_ms"]))
    wanted = keyframes[0]["t_ms"] if t_ms is None else t_ms
    nearest = min(keyframes, key=lambda frame: abs(int(frame["t_ms"]) - wanted))
    # The span bounds the search: a keyframe outside it (none is stored so) would be followed from there.
    at_ms = min(max(int(nearest["t_ms"]), placement.start_ms), placement.end_ms)
    job = FollowJob(
        brand_id=placement.brand_id,
        episode_id=placement.episode_id,
        placement_id=placement.id,
        placement_version=placement.version,
        box=[float(value) for value in nearest["box"]],
        at_ms=at_ms,
    )
    session.add(job)
    return job


# The history actions that set a placement's boxes: a drawing, a PATCH of its keyframes (actions of one
# PATCH are joined by "+", as "retime+reshape").
_BOXES_SET = {"draw", "reshape"}


def _persons_keyframes(session: Session, placement: Placement) -> list[dict[str, Any]]:
    """The keyframes a person last set (the drawing, or a later edit of its boxes), as its history
    recorded them; the placement's own where the history holds none."""
    actions = session.exec(
        select(ReviewAction.action, ReviewAction.after)
        .where(ReviewAction.placement_id == placement.id, ReviewAction.actor != FOLLOWER_ACTOR)
        .order_by(col(ReviewAction.at).desc())
    ).all()
    for action, after in actions:
        frames = after.get("keyframes") if isinstance(after, dict) else None
        if _BOXES_SET & set(action.split("+")) and isinstance(frames, list) and frames:
            return frames
    return list(placement.keyframes)


def refuse_if_following(session: Session, placement_id: uuid.UUID) -> None:
    active = session.exec(
        select(FollowJob.id, FollowJob.state).where(
            col(FollowJob.placement_id) == placement_id,
            col(FollowJob.state).in_([JobState.QUEUED, JobState.RUNNING]),
        )
    ).first()
    if active is not None:
        raise FollowJobInProgress(f"the placement already has a {active[1]} follow job ({active[0]})")


@dataclass(frozen=True)
class FollowScope:
    placement_id: uuid.UUID
    placement_version: int
    media_path: Path
    box: tuple[float, float, float, float]
    at_ms: int
    start_ms: int
    end_ms: int
    attempt: int


class FollowJobExecutor:
    def __init__(self, engine: Engine, settings: ApiSettings) -> None:
        self._engine, self._settings = engine, settings
        self._runner = JobRunner(engine, settings, FollowJob, "follow job")

    def __call__(self, job_id: uuid.UUID) -> None:
        scope = self._runner.claim(job_id, self._prepare)
        if scope is None:
            return
        # Imported here: API-only processes never load the vision stack.
        from tagger.exceptions import TaggerError  # noqa: PLC0415
        from tagger.follow import FollowError  # noqa: PLC0415

        self._runner.run(
            job_id,
            scope.attempt,
            lambda: self._run(job_id, scope),
            reasons={TaggerError: str, FollowError: str, LeaseLostError: str},
            fail=partial(self._fail, job_id, scope.attempt),
        )

    @staticmethod
    def _prepare(session: Session, job: FollowJob) -> FollowScope | None:
        placement = session.get(Placement, job.placement_id)
        episode = session.get(Episode, job.episode_id)
        if placement is None or episode is None:
            job.state, job.error, job.finished_at = JobState.FAILED, "placement no longer exists", utcnow()
            return None
        if placement.version != job.placement_version:
            # Edited since it was queued (a retimed span, a moved box): the person's edit wins, and nothing
            # is decoded for boxes that would not be stored.
            job.state, job.progress, job.finished_at = JobState.DONE, 1.0, utcnow()
            job.summary = _edited_since(job.placement_version, placement.version)
            return None
        x, y, w, h = (float(value) for value in job.box)
        return FollowScope(
            placement.id,
            job.placement_version,
            Path(episode.media_path),
            (x, y, w, h),
            job.at_ms,
            placement.start_ms,
            placement.end_ms,
            job.attempts,
        )

    def _run(self, job_id: uuid.UUID, scope: FollowScope) -> None:
        from tagger.follow import follow_box  # noqa: PLC0415 - the vision stack, loaded by workers only

        clock = PhaseClock()
        progress = JobProgress(self._engine, FollowJob, job_id, scope.attempt)
        with clock.phase("follow"):
            followed = follow_box(
                scope.media_path,
                box=scope.box,
                at_ms=scope.at_ms,
                start_ms=scope.start_ms,
                end_ms=scope.end_ms,
                progress=lambda done: progress.report(min(0.95, done * 0.95)),
            )
        with clock.phase("store"), session_scope(self._engine) as session:
            job = require_lease(session, FollowJob, job_id, scope.attempt, writing="the boxes")
            placement = session.exec(
                select(Placement).where(Placement.id == scope.placement_id).with_for_update()
            ).first()
            stored = 0
            if placement is None:
                summary = "nothing stored: the placement was deleted while it was followed"
            elif placement.version != scope.placement_version:
                summary = _edited_since(scope.placement_version, placement.version)
            elif followed.reason is not None:
                summary = f"nothing stored: {followed.reason}"
            else:
                stored = len(followed.keyframes)
                # The version moves on, so an editor holding the old one gets a 412 and reloads.
                before = placement_snapshot(placement)
                placement.keyframes = [{"t_ms": t_ms, "box": list(box)} for t_ms, box in followed.keyframes]
                record_change(session, placement, FOLLOWER_ACTOR, "follow", before, self._settings)
                summary = (
                    f"followed in {followed.found} of {followed.looks} frames looked at: {stored} "
                    f"keyframe{'' if stored == 1 else 's'} stored"
                )
            job.summary, job.keyframes = summary, stored
            job.state, job.progress, job.finished_at, job.error = JobState.DONE, 1.0, utcnow(), None
            job.seconds = dict(clock.seconds)

    def _fail(self, job_id: uuid.UUID, attempt: int, reason: str) -> None:
        with session_scope(self._engine) as session:
            job = held_lease(session, FollowJob, job_id, attempt, writing="failure")
            if isinstance(job, FollowJob):
                job.state, job.error, job.finished_at = JobState.FAILED, reason, utcnow()
                job.summary = f"nothing stored: {reason}"


def _edited_since(queued: int, now: int) -> str:
    return (
        f"nothing stored: the placement was edited while it was followed (version {queued} then, {now} "
        "now); queue another to follow it"
    )
