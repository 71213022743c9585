"""A job row's lifecycle shared by every kind of job: starting it, and writing its progress while it
runs, throttled so a fast loop does not hammer the database."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import Engine

from api.db import session_scope
from api.models import JobState, LinkJob, TagJob
from api.models.common import utcnow

MIN_STEP = 0.02
MIN_INTERVAL_S = 1.0


def start_job(job: TagJob | LinkJob) -> None:
    """Queued → running: one more attempt, progress from zero."""
    job.state, job.started_at, job.attempts, job.progress = JobState.RUNNING, utcnow(), job.attempts + 1, 0.0


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
