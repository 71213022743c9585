"""Listing a brand's background jobs of one kind (tag or link jobs): the same filters, order and count."""

from __future__ import annotations

import uuid
from typing import cast

from sqlalchemy import false, func
from sqlmodel import Session, col, select

from api.detectors.models import DetectorTrainJob
from api.episodes.models import TagJob
from api.jobs.models import JobState
from api.linking.models import LinkJob

Job = TagJob | LinkJob | DetectorTrainJob


def newest_jobs(
    session: Session,
    model: type[TagJob] | type[LinkJob] | type[DetectorTrainJob],
    brand_id: uuid.UUID,
    *,
    episode_id: uuid.UUID | None,
    state: JobState | None,
    limit: int,
) -> tuple[list[Job], int]:
    """The brand's newest `limit` jobs (optionally of one episode, in one state) and how many match."""
    statement = select(model).where(model.brand_id == brand_id)
    if episode_id is not None:
        # Train jobs belong to no episode: filtered by one, none of them matches.
        episode_column = getattr(model, "episode_id", None)
        statement = statement.where(episode_column == episode_id if episode_column is not None else false())
    if state is not None:
        statement = statement.where(model.state == state)
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    jobs = session.exec(statement.order_by(col(model.created_at).desc()).limit(limit)).all()
    # Rows of `model`, one of the two job tables (select() over a union of tables types them as SQLModel).
    return cast(list[Job], list(jobs)), total
