"""Fencing: a job's results are written only by the attempt that holds its lease.

Claiming a job bumps its `attempts`; that number is the attempt's fencing token. A worker that stalls
past its heartbeat (paused, partitioned) has its job requeued and claimed again under a new token, and
when it wakes its late writes must not land on top of the new attempt's. So every write of results,
failure or progress first re-reads the job row under a row lock and goes ahead only while the job is
still running under the writer's token, in the same transaction as the write itself.
"""

from __future__ import annotations

import logging
import uuid
from typing import TypeVar

from sqlmodel import Session, col, select

from api.detectors.models import DetectorTrainJob
from api.episodes.models import TagJob
from api.jobs.models import JobState
from api.linking.models import LinkJob

log = logging.getLogger("reelcart.jobs")
Job = TypeVar("Job", TagJob, LinkJob, DetectorTrainJob)


class LeaseLostError(Exception):
    """This attempt's job was requeued and claimed again: the attempt must stop writing."""


def require_lease(
    session: Session, table: type[Job], job_id: uuid.UUID, attempt: int, *, writing: str
) -> Job:
    """`held_lease`, for work that must stop when the job was taken over: raises `LeaseLostError`."""
    job = held_lease(session, table, job_id, attempt, writing=writing)
    if not isinstance(job, table):
        raise LeaseLostError(f"{table.__name__} {job_id} attempt {attempt} was superseded")
    return job


def held_lease(
    session: Session,
    table: type[TagJob] | type[LinkJob] | type[DetectorTrainJob],
    job_id: uuid.UUID,
    attempt: int,
    *,
    writing: str,
) -> TagJob | LinkJob | DetectorTrainJob | None:
    """The job row, locked for this transaction, when attempt `attempt` still holds it; else None
    (and the refused write, `writing`, is logged)."""
    job = session.exec(select(table).where(col(table.id) == job_id).with_for_update()).first()
    if not isinstance(job, TagJob | LinkJob | DetectorTrainJob):
        log.info("%s %s is gone; its %s is dropped", table.__name__, job_id, writing)
        return None
    if job.state != JobState.RUNNING or job.attempts != attempt:
        log.warning(
            "%s %s: attempt %d no longer holds the job (state %s, attempt %d); its %s is refused",
            table.__name__,
            job_id,
            attempt,
            job.state,
            job.attempts,
            writing,
        )
        return None
    return job
