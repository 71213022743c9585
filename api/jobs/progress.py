"""A job row's lifecycle shared by every kind of job: claiming it, and writing its progress while it
runs, throttled so a fast loop does not hammer the database."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import cast

from sqlalchemy import Engine, update
from sqlmodel import Session, col

from api.columns import utcnow
from api.db import session_scope
from api.jobs.models import JobPhase, JobState
from api.jobs.tables import PHASED_TABLES, JobRow, JobTable

MIN_STEP = 0.02
MIN_INTERVAL_S = 1.0
log = logging.getLogger("reelcart.jobs")


def claim_job(session: Session, table: JobTable, job_id: uuid.UUID) -> bool:
    """Queued → running (one more attempt, progress from zero) in one conditional UPDATE, so that of
    several workers offered the same job — threads, or Celery workers handed a duplicate message —
    exactly one gets it. False: someone else has it, it is finished, or it does not exist."""
    result = session.execute(
        update(table)
        .where(col(table.id) == job_id, col(table.state) == JobState.QUEUED)
        .values(
            state=JobState.RUNNING,
            started_at=utcnow(),
            heartbeat_at=utcnow(),
            attempts=table.attempts + 1,
            progress=0.0,
        )
    )
    return int(getattr(result, "rowcount", 0)) == 1


class JobProgress:
    """`report(fraction, phase)` stores the job's progress at most once a second or per 2 %, and never
    1.0: that is written only when the job's results are stored. A new phase is written at once, so a
    reader always sees which phase the progress belongs to (jobs without a phase column ignore it)."""

    def __init__(
        self,
        engine: Engine,
        table: JobTable,
        job_id: uuid.UUID,
        attempt: int | None = None,
    ) -> None:
        self._engine = engine
        self._table = table
        self._job_id = job_id
        # The attempt's fencing token (see api.jobs.lease): a superseded attempt's progress is not written.
        self._attempt = attempt
        self._value, self._at = 0.0, 0.0
        self._phase: JobPhase | None = None

    def report(self, fraction: float, phase: JobPhase | None = None) -> None:
        fraction = round(min(max(fraction, 0.0), 0.99), 4)
        now = time.monotonic()
        new_phase = phase is not None and phase != self._phase
        if not new_phase and fraction - self._value < MIN_STEP and now - self._at < MIN_INTERVAL_S:
            return
        # Progress never goes back, whatever order the phases report in.
        self._value, self._at = max(fraction, self._value), now
        self._phase = phase if phase is not None else self._phase
        with session_scope(self._engine) as session:
            job = cast(JobRow | None, session.get(self._table, self._job_id))
            if job is not None and job.state == JobState.RUNNING and self._attempt in (None, job.attempts):
                job.progress = self._value
                if isinstance(job, PHASED_TABLES) and self._phase is not None:
                    job.phase = self._phase


class Heartbeat:
    """While a job runs, touch its `heartbeat_at` every `every_s` from a daemon thread, so a worker that
    dies mid-job is noticed (its job is requeued once the heartbeat is older than the lease)."""

    def __init__(
        self, engine: Engine, table: JobTable, job_id: uuid.UUID, every_s: float, attempt: int | None = None
    ) -> None:
        self._engine, self._table, self._job_id, self._every_s = engine, table, job_id, every_s
        # A superseded attempt (paused past its lease, then resumed) must not keep its successor's
        # job looking alive: it beats only while the job is still its own.
        self._attempt = attempt
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                with session_scope(self._engine) as session:
                    statement = update(self._table).where(
                        col(self._table.id) == self._job_id, col(self._table.state) == JobState.RUNNING
                    )
                    if self._attempt is not None:
                        statement = statement.where(col(self._table.attempts) == self._attempt)
                    session.execute(statement.values(heartbeat_at=utcnow()))
            except Exception:  # a missed beat is retried at the next one; never kill the job for it
                log.warning("heartbeat of job %s not written", self._job_id, exc_info=True)
