"""Running queued jobs found in the database: `reelcart worker`, for nodes that serve no HTTP.

The API hands the jobs it queues to its own worker threads. A web-only node (REELCART_WORKER_THREADS=0)
leaves them queued in the database, where worker processes on other machines find them by polling.
Several workers may offer themselves the same job: the executors claim a job with one conditional
UPDATE (`claim_job`), so exactly one runs it and the others move on. A running job's heartbeat tells
a live worker from a dead one; jobs of dead workers are queued again (`recovery.StaleJobReaper`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from api.jobs.queue import JobHandler, JobKind, JobRef, dispatch
from api.jobs.recovery import JOB_TABLES, StaleJobReaper
from api.models import JobState

log = logging.getLogger("reelcart.worker")


def next_queued(engine: Engine, skip: set[JobRef] | frozenset[JobRef] = frozenset()) -> JobRef | None:
    """The oldest queued job of any kind (tag jobs and link jobs share one first-come order)."""
    oldest: tuple[datetime, JobRef] | None = None
    with Session(engine) as session:
        for kind, table in JOB_TABLES:
            statement = (
                select(table.id, table.created_at)
                .where(col(table.state) == JobState.QUEUED)
                .order_by(col(table.created_at))
                .limit(len(skip) + 1)
            )
            for job_id, created_at in session.exec(statement).all():
                ref = JobRef(kind, job_id)
                if ref not in skip:
                    if oldest is None or created_at < oldest[0]:
                        oldest = (created_at, ref)
                    break
    return None if oldest is None else oldest[1]


def drain(engine: Engine, handlers: Mapping[JobKind, JobHandler]) -> int:
    """Run queued jobs until none is left; returns how many were offered to a handler. A job another
    worker claimed first, or one whose handler crashed, is not offered again in this pass."""
    offered: set[JobRef] = set()
    while (job := next_queued(engine, offered)) is not None:
        offered.add(job)
        try:
            dispatch(handlers, job)
        except Exception:
            log.exception("%s job %s crashed its handler; the worker carries on", job.kind, job.id)
    return len(offered)


def run_worker(
    engine: Engine,
    handlers: Mapping[JobKind, JobHandler],
    *,
    threads: int,
    poll_s: float,
    stop: threading.Event,
) -> None:
    """`threads` loops, each draining the queue then sleeping `poll_s`, until `stop` is set."""

    def loop() -> None:
        while not stop.is_set():
            if drain(engine, handlers) == 0:
                stop.wait(poll_s)

    # Jobs of workers that died (here or on another node) go back to the queue for these loops.
    reaper = StaleJobReaper(engine)
    reaper.start()
    workers = [
        threading.Thread(target=loop, name=f"reelcart-worker-{n}", daemon=True) for n in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    reaper.stop()
