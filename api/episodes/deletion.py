"""Deleting an episode: its placements, their history, its analytics, its jobs, and then its files.

An episode a checkout was started from is kept: its checkouts and orders name it and its placements
(the brand's sales records), so the deletion is refused and says how to take its hotspots down
instead. One with a job queued or running (a transcode, a tag job, an episode re-link, a follow job of
one of its placements) is refused until the job is done: the job would write to rows that are gone.

Locks (PostgreSQL; SQLite runs one writer at a time): the episode's placements, in id order, then the
episode row, the order a product's deletion and a re-link take them in (placements before the timelines
they rebuild), so none of them waits on another in a cycle. A shopper's checkout (after its variant)
and a player's events key-share the placement and then the episode before they refer to them: one
that came first is waited for and then counted (a checkout makes the episode sold), one that comes
later waits and finds them gone. So do a follow job's request (the placement) and a drawing (the
episode): one that came first makes the deletion a `job-in-progress` or deletes the drawing with the
rest, one that comes later finds the episode gone (404).

Files go after the commit (`delete_files`): a deletion that is rolled back loses nothing. Only files
under the media dir are deleted; a server-path episode's own file is never touched.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from api.analytics.models import Event, EventCount, EventDayCount
from api.checkout.models import CheckoutSession, Order
from api.episodes.exceptions import EpisodeHasJobs, EpisodeSold
from api.episodes.models import Episode, TagJob, TranscodeJob
from api.errors import NotFound
from api.housekeeping import is_stored_episode_file
from api.jobs.models import JobState
from api.linking.models import LinkJob
from api.review.models import FollowJob, Placement, ReviewAction
from api.settings import ApiSettings

log = logging.getLogger("reelcart.episodes")

_ACTIVE = (JobState.QUEUED, JobState.RUNNING)


def delete_episode(
    session: Session, settings: ApiSettings, brand_id: uuid.UUID, episode_id: uuid.UUID
) -> list[Path]:
    """Delete the brand's episode and every row that is only about it; flushes only. Returns the files
    and folders to delete once the caller has committed."""
    session.exec(
        select(Placement.id)
        .where(Placement.episode_id == episode_id, Placement.brand_id == brand_id)
        .order_by(col(Placement.id))
        .with_for_update()
    ).all()
    episode = session.exec(
        select(Episode).where(Episode.id == episode_id, Episode.brand_id == brand_id).with_for_update()
    ).first()
    if episode is None:
        raise NotFound("episode")
    _refuse_if_sold(session, episode)
    _refuse_if_busy(session, episode)
    files = _files_of(session, settings, episode)
    # By the episode, not by the ids locked above: a tag job's store that this deletion waited for may
    # have added placements, and their history, since (a lock that waited does not see new rows).
    of_episode = select(Placement.id).where(Placement.episode_id == episode.id)
    # Follow jobs name placements: they go first.
    session.execute(delete(FollowJob).where(col(FollowJob.episode_id) == episode.id))
    session.execute(delete(ReviewAction).where(col(ReviewAction.placement_id).in_(of_episode)))
    session.execute(delete(EventCount).where(col(EventCount.placement_id).in_(of_episode)))
    session.execute(delete(EventDayCount).where(col(EventDayCount.placement_id).in_(of_episode)))
    session.execute(delete(Event).where(col(Event.episode_id) == episode.id))
    session.execute(delete(Placement).where(col(Placement.episode_id) == episode.id))
    for table in (TagJob, TranscodeJob, LinkJob):
        session.execute(delete(table).where(col(table.episode_id) == episode.id))
    session.delete(episode)
    session.flush()
    return files


def _refuse_if_sold(session: Session, episode: Episode) -> None:
    checkouts = session.exec(
        select(func.count()).select_from(CheckoutSession).where(CheckoutSession.episode_id == episode.id)
    ).one()
    orders = session.exec(select(func.count()).select_from(Order).where(Order.episode_id == episode.id)).one()
    if checkouts or orders:
        raise EpisodeSold(
            f"shoppers started {checkouts} checkout(s) from this episode's hotspots and its {orders} "
            "order(s) name it, so it is kept with the brand's sales records; to take its hotspots down, "
            "reject its placements (POST /v1/placements/{id}/reject)"
        )


def _refuse_if_busy(session: Session, episode: Episode) -> None:
    jobs: tuple[tuple[type[TranscodeJob | TagJob | LinkJob | FollowJob], str], ...] = (
        (TranscodeJob, "transcode"),
        (TagJob, "tag"),
        (LinkJob, "link"),
        (FollowJob, "follow"),
    )
    for table, noun in jobs:
        active = session.exec(
            select(table.id, table.state).where(
                col(table.episode_id) == episode.id, col(table.state).in_(_ACTIVE)
            )
        ).first()
        if active is not None:
            job_id, state = active
            raise EpisodeHasJobs(
                f"the episode has a {state} {noun} job ({job_id}); delete it once the job is done"
            )


def _files_of(session: Session, settings: ApiSettings, episode: Episode) -> list[Path]:
    """What ReelCart stored for the episode: the upload or transcode it plays, the uploads its transcode
    jobs kept (named by ReelCart in the media dir's episodes folder: never a file registered by path,
    even one inside the media dir, such as the demo's), its thumbnails and crops."""
    candidates = [Path(episode.media_path)]
    candidates += [
        Path(source)
        for source in session.exec(
            select(TranscodeJob.source_path).where(
                TranscodeJob.episode_id == episode.id, col(TranscodeJob.source_owned).is_(True)
            )
        ).all()
    ]
    files = [path for path in candidates if is_stored_episode_file(path, settings.media_dir)]
    return [*dict.fromkeys(files), settings.media_dir / "thumbnails" / str(episode.id)]


def delete_files(paths: list[Path]) -> None:
    """Delete what `delete_episode` returned (after its commit); what is gone already is no error, and
    one that cannot be deleted is logged: the episode is gone either way."""
    for path in paths:
        try:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError as error:
            log.warning("a deleted episode's file %s was not deleted: %s", path.name, error.strerror)
