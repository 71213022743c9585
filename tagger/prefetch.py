"""Run an iterator in a background thread so producing (decoding) overlaps consuming (detecting).

PyAV and ONNX Runtime both release the GIL in their heavy calls, so the two really run in parallel.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


_DONE = object()


class PrefetchClosedError(RuntimeError):
    """Raised to a reader of a Prefetch closed while it read: what it read is not the whole source."""


class Prefetch(Generic[T]):
    """Iterate `source` in a thread, at most `depth` items ahead; errors re-raise in the consumer.

    `release` is called when the consumer stops (`close`), before the thread is waited for: it frees a
    producer that waits on the consumer for something other than queue room (the decoder waits for the
    detector's answers, `tagger.sampling.DetectionSchedule.close`). Without it a consumer that failed
    waited the join's whole timeout for a producer that could not move."""

    def __init__(
        self, source: Iterable[T], depth: int = 4, release: Callable[[], None] | None = None
    ) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._release = release
        self._thread = threading.Thread(
            target=self._run, args=(source,), name="reelcart-prefetch", daemon=True
        )
        self._thread.start()

    def _run(self, source: Iterable[T]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
        except BaseException as error:  # handed to the consumer, which re-raises it
            self._put(_Failed(error))
            return
        self._put(_DONE)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def __iter__(self) -> Iterator[T]:
        try:
            while True:
                try:
                    item = self._queue.get(timeout=0.1)
                except queue.Empty:
                    # Closed meanwhile (its reader's reader stopped): nothing more will come, and what
                    # came is not the whole source, so the reader must not end as if it were.
                    if self._stop.is_set():
                        raise PrefetchClosedError("read after the prefetch was closed") from None
                    continue
                if item is _DONE:
                    return
                if isinstance(item, _Failed):
                    raise item.error
                yield item  # type: ignore[misc]
        finally:
            self.close()

    def close(self) -> None:
        """Stop the producer (a consumer that fails or stops early must not leave it decoding)."""
        self._stop.set()
        if self._release is not None:
            self._release()
        self._thread.join(timeout=10.0)

    @property
    def running(self) -> bool:
        """Whether the producing thread is still alive (after `close`: it did not stop in time)."""
        return self._thread.is_alive()
