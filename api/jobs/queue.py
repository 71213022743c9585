"""Job queues: the protocol the API depends on, and the in-process thread implementation."""

from __future__ import annotations

import logging
import queue
import threading
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
    TRAIN = "train"


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


class ThreadJobQueue:
    """Runs jobs through the handler of their kind on `workers` daemon threads; a failing job never
    stops a worker."""

    def __init__(self, handlers: Mapping[JobKind, JobHandler], *, workers: int = 1) -> None:
        self._handlers = dict(handlers)
        self._workers = workers
        self._queue: queue.Queue[JobRef | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

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
            except Exception:
                log.exception("%s job %s crashed its handler; the worker carries on", job.kind, job.id)
            finally:
                self._queue.task_done()


class InlineJobQueue:
    """Runs each job at once in the caller's thread: for the CLI and for deterministic tests."""

    def __init__(self, handlers: Mapping[JobKind, JobHandler]) -> None:
        self._handlers = dict(handlers)

    def enqueue(self, job: JobRef) -> None:
        dispatch(self._handlers, job)

    def start(self) -> None:
        return None

    def stop(self, timeout_s: float = 10.0) -> None:
        return None


class DatabaseJobQueue:
    """For a web-only node (REELCART_WORKER_THREADS=0): a job is already queued by its row in the
    database, where `reelcart worker` processes find it; nothing is kept in this process."""

    def enqueue(self, job: JobRef) -> None:
        log.debug("%s job %s left in the database for a worker", job.kind, job.id)

    def start(self) -> None:
        return None

    def stop(self, timeout_s: float = 10.0) -> None:
        return None
