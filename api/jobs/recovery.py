"""At start-up: put back on the queue what a dead process left behind, for every kind of job."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from api.jobs.queue import JobKind, JobRef
from api.models import JobState, LinkJob, TagJob

JOB_TABLES: tuple[tuple[JobKind, type[TagJob] | type[LinkJob]], ...] = (
    (JobKind.TAG, TagJob),
    (JobKind.LINK, LinkJob),
)


def recover_jobs(session: Session) -> list[JobRef]:
    """Jobs left running go back to queued (their work is redone from the start; both kinds are
    idempotent); returns every queued job, oldest first."""
    queued: list[tuple[datetime, JobRef]] = []
    for kind, table in JOB_TABLES:
        for job in session.exec(select(table).where(col(table.state) == JobState.RUNNING)).all():
            job.state, job.progress = JobState.QUEUED, 0.0
            session.add(job)
        session.flush()
        for job_id, created_at in session.exec(
            select(table.id, table.created_at)
            .where(col(table.state) == JobState.QUEUED)
            .order_by(col(table.created_at))
        ).all():
            queued.append((created_at, JobRef(kind, job_id)))
    return [job for _, job in sorted(queued, key=lambda item: item[0])]
