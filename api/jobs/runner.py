"""One job runner for every kind: claim, heartbeat, failure with a reason, and retries of transient
failures.

An executor says only what is particular to its kind: what to read when it claims a job (`prepare`),
the work, which errors are the job's own failures (and how to word them), and what else a failure
changes (`fail`, e.g. an episode marked failed). A transient failure (the database or a provider
briefly unavailable) puts the job back to `queued` and raises `JobDeferred`, so the queue offers it
again after a backoff — until the job has had `job_max_attempts`, then it fails with the reason.
Anything else fails the job as an internal error, with its traceback in the log; bad input is never
retried.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

import httpx
from sqlalchemy import Engine, update
from sqlmodel import Session, col

from api.columns import utcnow
from api.db import is_database_outage, session_scope
from api.jobs.models import JobPhase, JobState
from api.jobs.progress import Heartbeat, claim_job
from api.jobs.queue import JobDeferred, JobRef
from api.jobs.tables import PHASED_TABLES, Job, kind_of
from api.observability.metrics import observe_job
from api.settings import ApiSettings
from commerce.exceptions import ProviderError

log = logging.getLogger("reelcart.jobs")

Scope = TypeVar("Scope")
# Expected failures: the exception type, and the job's error text for it.
Reasons = Mapping[type[Exception], Callable[[Exception], str]]


def is_transient(error: BaseException) -> bool:
    """Worth another attempt later: the database unreachable, a provider timing out or asking to be
    called again, a network error. Bad input (a refused catalog, an undecodable video) is not."""
    if is_database_outage(error):
        return True
    if isinstance(error, ProviderError):
        return error.retryable
    return isinstance(error, httpx.TimeoutException | httpx.NetworkError)


def retry_delay_s(settings: ApiSettings, attempt: int) -> float:
    """Exponential backoff: the first retry after `job_retry_backoff_s`, each next twice as long."""
    delay: float = settings.job_retry_backoff_s * 2.0 ** max(attempt - 1, 0)
    return min(delay, settings.job_retry_backoff_max_s)


class JobRunner(Generic[Job]):
    def __init__(self, engine: Engine, settings: ApiSettings, table: type[Job], noun: str) -> None:
        self._engine = engine
        self._settings = settings
        self._table: type[Job] = table
        self._noun = noun
        self._kind = kind_of(table)

    def claim(self, job_id: uuid.UUID, prepare: Callable[[Session, Job], Scope | None]) -> Scope | None:
        """Take a queued job (one conditional UPDATE, so racing workers never both run it) and read
        what its work needs; None when another worker has it, or `prepare` finds nothing to do."""
        with session_scope(self._engine) as session:
            if not claim_job(session, self._table, job_id):
                self._log_unclaimed(session, job_id)
                return None
            job = session.get(self._table, job_id, populate_existing=True)
            assert job is not None
            return prepare(session, job)

    def run(
        self,
        job_id: uuid.UUID,
        attempt: int,
        work: Callable[[], None],
        *,
        reasons: Reasons,
        fail: Callable[[str], None],
    ) -> None:
        """The claimed job's work under its heartbeat; a failure is recorded through `fail`. Metrics
        count it by outcome, and its log lines carry its id. Raises `JobDeferred` after a transient
        failure (the job is queued again)."""
        deferred: JobDeferred | None = None
        with observe_job(self._kind, job_id) as observed:
            try:
                with Heartbeat(self._engine, self._table, job_id, self._settings.job_heartbeat_s, attempt):
                    work()
            except Exception as error:
                if is_transient(error):
                    why = f"{type(error).__name__}: {error}"
                    if attempt >= self._settings.job_max_attempts:
                        observed.outcome = "failed"
                        log.warning(
                            "%s %s failed on its last attempt (%d): %s", self._noun, job_id, attempt, why
                        )
                        fail(f"gave up after {attempt} attempts; the last failed with {why}")
                        return
                    observed.outcome = "deferred"
                    self._release(job_id, attempt)
                    deferred = JobDeferred(
                        JobRef(self._kind, job_id), why, retry_delay_s(self._settings, attempt)
                    )
                else:
                    for kind, reason in reasons.items():
                        if isinstance(error, kind):
                            observed.outcome = "failed"
                            fail(reason(error))
                            return
                    observed.outcome = "error"
                    log.exception("%s %s failed unexpectedly", self._noun, job_id)
                    fail(f"internal error: {type(error).__name__}: {error}")
        if deferred is not None:
            raise deferred

    def _release(self, job_id: uuid.UUID, attempt: int) -> None:
        """Running → queued, only while this attempt still holds the job. The queue that ran it offers
        it again (a Celery retry, a thread queue's timer), so it counts as published."""
        values: dict[str, object] = {"state": JobState.QUEUED, "progress": 0.0, "published_at": utcnow()}
        if self._table in PHASED_TABLES:
            values["phase"] = JobPhase.QUEUED
        with session_scope(self._engine) as session:
            session.execute(
                update(self._table)
                .where(
                    col(self._table.id) == job_id,
                    col(self._table.state) == JobState.RUNNING,
                    col(self._table.attempts) == attempt,
                )
                .values(**values)
            )

    def _log_unclaimed(self, session: Session, job_id: uuid.UUID) -> None:
        # A message for a job that is gone (deleted with its episode, its brand) or already taken is
        # acknowledged and dropped; say which, since an operator reading the worker log will ask.
        job = session.get(self._table, job_id)
        if job is None:
            log.info("%s %s does not exist (deleted?); nothing to run", self._noun, job_id)
        else:
            log.info(
                "%s %s is %s (attempt %d), not queued; this offer of it is dropped",
                self._noun,
                job_id,
                job.state,
                job.attempts,
            )
