"""Listing a brand's background jobs of one kind (tag or link jobs): the same filters, order and count."""

from __future__ import annotations

import uuid
from typing import cast

from sqlalchemy import func
from sqlmodel import Session, col, select

from api.jobs.models import JobState
from api.jobs.tables import JobRow, JobTable


def newest_jobs(
    session: Session,
    model: JobTable,
    brand_id: uuid.UUID,
    *,
    episode_id: uuid.UUID | None,
    state: JobState | None,
    limit: int,
) -> tuple[list[JobRow], int]:
    """The brand's newest `limit` jobs (optionally of one episode, in one state) and how many match."""
    statement = select(model).where(model.brand_id == brand_id)
    if episode_id is not None:
        episode_column = getattr(model, "episode_id", None)
        if episode_column is None:  # catalog jobs belong to no episode
            return [], 0
        statement = statement.where(episode_column == episode_id)
    if state is not None:
        statement = statement.where(model.state == state)
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    jobs = session.exec(statement.order_by(col(model.created_at).desc()).limit(limit)).all()
    # Rows of `model`, one of the job tables (select() over a union of tables types them as SQLModel).
    return cast(list[JobRow], list(jobs)), total
