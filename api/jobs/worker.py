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

from sqlalchemy import Engine
from sqlmodel import Session

from api.jobs.queue import JobHandler, JobKind, JobRef, dispatch
from api.jobs.recovery import StaleJobReaper, queued_jobs

log = logging.getLogger("reelcart.worker")


def next_queued(engine: Engine, skip: set[JobRef] | frozenset[JobRef] = frozenset()) -> JobRef | None:
    """The oldest queued job of any kind not in `skip` (tag jobs and link jobs share one first-come
    order). At most len(skip) of a kind's oldest can be skipped, so that many plus one are read."""
    with Session(engine) as session:
        candidates = queued_jobs(session, per_kind=len(skip) + 1)
    return next((job for job in candidates if job not in skip), None)


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
