"""One job runner for every kind: claim, heartbeat, and failure with a reason.

An executor says only what is particular to its kind: what to read when it claims a job (`prepare`),
the work, which errors are the job's own failures (and how to word them), and what else a failure
changes (`fail`, e.g. an episode marked failed). Anything unexpected fails the job as an internal
error, with its traceback in the log.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

from api.db import session_scope
from api.detectors.models import DetectorTrainJob
from api.episodes.models import TagJob
from api.jobs.progress import Heartbeat, claim_job
from api.jobs.recovery import JOB_TABLES
from api.linking.models import LinkJob
from api.observability.metrics import observe_job

log = logging.getLogger("reelcart.jobs")

Job = TypeVar("Job", TagJob, LinkJob, DetectorTrainJob)
Scope = TypeVar("Scope")
# Expected failures: the exception type, and the job's error text for it.
Reasons = Mapping[type[Exception], Callable[[Exception], str]]


class JobRunner(Generic[Job]):
    def __init__(self, engine: Engine, table: type[Job], noun: str) -> None:
        self._engine = engine
        self._table: type[Job] = table
        self._noun = noun
        self._kind = next(str(kind) for kind, kind_table in JOB_TABLES if kind_table is table)

    def claim(self, job_id: uuid.UUID, prepare: Callable[[Session, Job], Scope | None]) -> Scope | None:
        """Take a queued job (one conditional UPDATE, so racing workers never both run it) and read
        what its work needs; None when another worker has it, or `prepare` finds nothing to do."""
        with session_scope(self._engine) as session:
            if not claim_job(session, self._table, job_id):
                return None
            job = session.get(self._table, job_id, populate_existing=True)
            assert job is not None
            return prepare(session, job)

    def run(
        self, job_id: uuid.UUID, work: Callable[[], None], *, reasons: Reasons, fail: Callable[[str], None]
    ) -> None:
        """The claimed job's work under its heartbeat; a failure is recorded through `fail`. Metrics
        count it by outcome, and its log lines carry its id."""
        with observe_job(self._kind, job_id) as observed:
            try:
                with Heartbeat(self._engine, self._table, job_id):
                    work()
            except Exception as error:
                for kind, reason in reasons.items():
                    if isinstance(error, kind):
                        observed.outcome = "failed"
                        fail(reason(error))
                        return
                observed.outcome = "error"
                log.exception("%s %s failed unexpectedly", self._noun, job_id)
                fail(f"internal error: {type(error).__name__}: {error}")
