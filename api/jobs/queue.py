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

log = logging.getLogger("reelcart.jobs")

JobHandler = Callable[[uuid.UUID], None]


class JobKind(StrEnum):
    TAG = "tag"
    LINK = "link"
    SYNC = "sync"  # a catalog sync from Shopify or Stripe
    IMAGES = "image-fetch"  # downloading catalog images known only by URL
    TRAIN = "train"  # training a brand's own detector from its packshots


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

    Handlers may queue follow-up jobs (a sync queues an image fetch), so they can be bound after the
    queue is made (`bind`)."""

    def __init__(self, handlers: Mapping[JobKind, JobHandler] | None = None, *, workers: int = 1) -> None:
        self._handlers = dict(handlers or {})
        self._workers = workers
        self._queue: queue.Queue[JobRef | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def bind(self, handlers: Mapping[JobKind, JobHandler]) -> None:
        self._handlers.update(handlers)

    def enqueue(self, job: JobRef) -> None:
        self._queue.put(job)

    def start(self) -> None:
        with self._lock:
            if self._threads:
                return
            for number in range(self._workers):
                thread = threading.Thread(target=self._work, name=f"reelcart-worker-{number}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def stop(self, timeout_s: float = 10.0) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join(timeout_s)

    def join(self) -> None:
        """Block until every enqueued job has been handled (tests and the CLI use this)."""
        self._queue.join()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                self._queue.task_done()
                return
            try:
                dispatch(self._handlers, job)
            except JobDeferred as deferred:
                log.info("%s", deferred)
                later = threading.Timer(deferred.delay_s, self.enqueue, args=(job,))
                later.daemon = True
                later.start()
            except Exception:
                log.exception("%s job %s crashed its handler; the worker carries on", job.kind, job.id)
            finally:
                self._queue.task_done()


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
