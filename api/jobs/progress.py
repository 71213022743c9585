"""A job row's lifecycle shared by every kind of job: claiming it, and writing its progress while it
runs, throttled so a fast loop does not hammer the database."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import Engine, update
from sqlmodel import Session, col

from api.db import session_scope
from api.models import JobState, LinkJob, TagJob
from api.models.common import utcnow

MIN_STEP = 0.02
MIN_INTERVAL_S = 1.0


def claim_job(session: Session, table: type[TagJob] | type[LinkJob], job_id: uuid.UUID) -> bool:
    """Queued → running (one more attempt, progress from zero) in one conditional UPDATE, so that of
    several workers offered the same job — threads, or `reelcart worker` processes polling the
    database — exactly one gets it. False: someone else has it, it is finished, or it does not exist."""
    result = session.execute(
        update(table)
        .where(col(table.id) == job_id, col(table.state) == JobState.QUEUED)
        .values(state=JobState.RUNNING, started_at=utcnow(), attempts=table.attempts + 1, progress=0.0)
    )
    return int(getattr(result, "rowcount", 0)) == 1


class JobProgress:
    """`report(fraction)` stores the job's progress at most once a second or per 2 %, and never 1.0:
    that is written only when the job's results are stored."""

    def __init__(self, engine: Engine, table: type[TagJob] | type[LinkJob], job_id: uuid.UUID) -> None:
        self._engine = engine
        self._table = table
        self._job_id = job_id
        self._value, self._at = 0.0, 0.0

    def report(self, fraction: float) -> None:
        fraction = round(min(max(fraction, 0.0), 0.99), 4)
        now = time.monotonic()
        if fraction - self._value < MIN_STEP and now - self._at < MIN_INTERVAL_S:
            return
        self._value, self._at = fraction, now
        with session_scope(self._engine) as session:
            job = session.get(self._table, self._job_id)
            if isinstance(job, TagJob | LinkJob) and job.state == JobState.RUNNING:
                job.progress = fraction
