"""Job queues: the protocol the API depends on, and the in-process implementations (one box, the CLI,
tests). The cluster's queue is Celery (`api.jobs.celery_app`), imported only when a broker is set."""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from api.db import is_database_outage

log = logging.getLogger("reelcart.jobs")

JobHandler = Callable[[uuid.UUID], None]


class JobKind(StrEnum):
    TAG = "tag"
    LINK = "link"
    SYNC = "sync"  # a catalog sync from Shopify or Stripe
    IMAGES = "image-fetch"  # downloading catalog images known only by URL
    TRAIN = "train"  # training a brand's own detector from its packshots
    TRANSCODE = "transcode"  # making an episode's video browser-playable
    FOLLOW = "follow"  # following a drawn placement's box through its span


class JobDeferred(Exception):  # noqa: N818 -- it is not an error: the job is queued again
    """A transient failure (the database or a provider briefly unavailable): the runner has put the job
    back to `queued`, and the queue that ran it offers it again after `delay_s`."""

    def __init__(self, job: JobRef, reason: str, delay_s: float) -> None:
        super().__init__(f"{job.kind} job {job.id} deferred {delay_s:g} s: {reason}")
        self.job, self.reason, self.delay_s = job, reason, delay_s


@dataclass(frozen=True, slots=True)
class JobRef:
    """What travels through a queue: which table the job lives in, and its id (all state is there)."""

    kind: JobKind
    id: uuid.UUID

    @property
    def location(self) -> str:
        """Where the job's resource is read (the `Location` of the 202 that queued it)."""
        return f"/v1{jobs_path(self.kind)}/{self.id}"


def jobs_path(kind: JobKind) -> str:
    """The collection of a kind's jobs under /v1, as `api.jobs.router` serves it: /tag-jobs, /train-jobs."""
    return f"/{kind.value}-jobs"


class JobQueue(Protocol):
    def enqueue(self, job: JobRef) -> None: ...

    def start(self) -> None: ...

    def stop(self, timeout_s: float = 10.0) -> None: ...


def dispatch(handlers: Mapping[JobKind, JobHandler], job: JobRef) -> None:
    handler = handlers.get(job.kind)
    if handler is None:
        raise LookupError(f"no handler for {job.kind} jobs (job {job.id})")
    handler(job.id)


def run_to_end(handler: JobHandler, job_id: uuid.UUID) -> None:
    """Run one job in this thread, waiting out its transient failures (the CLI's jobs: nobody else
    would offer a deferred job again)."""
    while True:
        try:
            handler(job_id)
        except JobDeferred as deferred:
            log.warning("%s; retrying in this process", deferred)
            time.sleep(deferred.delay_s)
        else:
            return


class ThreadJobQueue:
    """Runs jobs through the handler of their kind on `workers` daemon threads; a failing job never
    stops a worker, and a deferred one is offered again after its delay.

    The kinds in `own_thread` each get one thread of their own instead: on one box, a train job (up to
    its time limit, in a subprocess) must not hold the thread that tag and link jobs wait for, as the
    `train` queue keeps it off the `vision` workers of a cluster.

    Handlers may queue follow-up jobs (a sync queues an image fetch), so they can be bound after the
    queue is made (`bind`).

    `handed_out` is told of every job once it is in a lane: the API records it (`published_at`), so
    its job supervisor does not hand the job to the threads a second time (api.jobs.recovery). So a
    handler that finds the database down before it could claim or fail its job (nothing ran) must not
    drop it: the job stays queued, and nothing else would offer it again until a restart. It is offered
    again after `outage_delay_s(n)` seconds, n counting its outages in a row, as Celery retries it."""

    def __init__(
        self,
        handlers: Mapping[JobKind, JobHandler] | None = None,
        *,
        workers: int = 1,
        own_thread: frozenset[JobKind] = frozenset(),
        handed_out: Callable[[JobRef], None] | None = None,
        outage_delay_s: Callable[[int], float] = lambda outages: min(5.0 * 2.0 ** (outages - 1), 300.0),
    ) -> None:
        self._handlers = dict(handlers or {})
        self._handed_out = handed_out
        self._outage_delay_s = outage_delay_s
        self._outages: dict[JobRef, int] = {}
        # The shared lane (None) has `workers` threads; each kind in `own_thread` a lane of one.
        self._threads_per_lane: dict[JobKind | None, int] = {None: workers} | dict.fromkeys(own_thread, 1)
        self._lanes: dict[JobKind | None, queue.Queue[JobRef | None]] = {
            lane: queue.Queue() for lane in self._threads_per_lane
        }
        self._threads: list[tuple[JobKind | None, threading.Thread]] = []
        self._lock = threading.Lock()

    def bind(self, handlers: Mapping[JobKind, JobHandler]) -> None:
        self._handlers.update(handlers)

    def enqueue(self, job: JobRef) -> None:
        self._lanes.get(job.kind, self._lanes[None]).put(job)
        if self._handed_out is not None:
            try:
                self._handed_out(job)
            except Exception:
                # The job is in a lane and runs; at worst the supervisor offers it once more, and the
                # claim drops the copy.
                log.exception("%s job %s: could not record that it was handed out", job.kind, job.id)

    def start(self) -> None:
        with self._lock:
            if self._threads:
                return
            for lane, count in self._threads_per_lane.items():
                for number in range(count):
                    name = f"reelcart-worker-{number}" if lane is None else f"reelcart-{lane}-worker"
                    thread = threading.Thread(
                        target=self._work, args=(self._lanes[lane],), name=name, daemon=True
                    )
                    thread.start()
                    self._threads.append((lane, thread))

    def stop(self, timeout_s: float = 10.0) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
        for lane, _ in threads:
            self._lanes[lane].put(None)
        for _, thread in threads:
            thread.join(timeout_s)

    def join(self) -> None:
        """Block until every enqueued job has been handled (tests and the CLI use this)."""
        for lane in self._lanes.values():
            lane.join()

    def _work(self, lane: queue.Queue[JobRef | None]) -> None:
        while True:
            job = lane.get()
            if job is None:
                lane.task_done()
                return
            try:
                dispatch(self._handlers, job)
                self._outage_over(job)
            except JobDeferred as deferred:
                self._outage_over(job)
                log.info("%s", deferred)
                self._offer_later(job, deferred.delay_s)
            except Exception as error:
                if not is_database_outage(error):
                    self._outage_over(job)
                    log.exception("%s job %s crashed its handler; the worker carries on", job.kind, job.id)
                else:
                    with self._lock:
                        outages = self._outages[job] = self._outages.get(job, 0) + 1
                    delay = self._outage_delay_s(outages)
                    log.warning(
                        "%s job %s: database unavailable; offered again in %g s", job.kind, job.id, delay
                    )
                    self._offer_later(job, delay)
            finally:
                lane.task_done()

    def _offer_later(self, job: JobRef, delay_s: float) -> None:
        later = threading.Timer(delay_s, self.enqueue, args=(job,))
        later.daemon = True
        later.start()

    def _outage_over(self, job: JobRef) -> None:
        with self._lock:
            self._outages.pop(job, None)


class InlineJobQueue:
    """Runs each job at once in the caller's thread: for the CLI and for deterministic tests."""

    def __init__(self, handlers: Mapping[JobKind, JobHandler] | None = None) -> None:
        self._handlers = dict(handlers or {})

    def bind(self, handlers: Mapping[JobKind, JobHandler]) -> None:
        self._handlers.update(handlers)

    def enqueue(self, job: JobRef) -> None:
        dispatch(self._handlers, job)

    def start(self) -> None:
        return None

    def stop(self, timeout_s: float = 10.0) -> None:
        return None
