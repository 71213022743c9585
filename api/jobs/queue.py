"""Job queues: the protocol the API depends on, and the in-process thread implementation."""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("reelcart.jobs")

JobHandler = Callable[[uuid.UUID], None]


class JobQueue(Protocol):
    def enqueue(self, job_id: uuid.UUID) -> None: ...

    def start(self) -> None: ...

    def stop(self, timeout_s: float = 10.0) -> None: ...


class ThreadJobQueue:
    """Runs job ids through `handler` on `workers` daemon threads; a failing job never stops a worker."""

    def __init__(self, handler: JobHandler, *, workers: int = 1) -> None:
        self._handler = handler
        self._workers = workers
        self._queue: queue.Queue[uuid.UUID | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def enqueue(self, job_id: uuid.UUID) -> None:
        self._queue.put(job_id)

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
            job_id = self._queue.get()
            try:
                if job_id is None:
                    return
                self._handler(job_id)
            except Exception:
                log.exception("job %s crashed its handler; the worker carries on", job_id)
            finally:
                self._queue.task_done()


class InlineJobQueue:
    """Runs each job at once in the caller's thread: for the CLI and for deterministic tests."""

    def __init__(self, handler: JobHandler) -> None:
        self._handler = handler

    def enqueue(self, job_id: uuid.UUID) -> None:
        self._handler(job_id)

    def start(self) -> None:
        return None

    def stop(self, timeout_s: float = 10.0) -> None:
        return None
