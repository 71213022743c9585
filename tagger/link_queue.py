"""Placements linked while the episode is still being tagged.

A shot's placements are final at its cut: tracking, fragment merging and the locator's doubles rule
never look across one. So each shot's placements are handed to link threads as soon as the next shot
starts, and linking (embedding, keypoints, OCR: the largest part of a tag job's CPU) runs beside
decoding, detection and locating instead of after them. A machine with cores to spare finishes the
job sooner; on the 2-core target it gained nothing measurable, because detection already keeps both
cores busy (OpenCV and the decoder use the second), but the job no longer ends in a long linking-only
tail (BENCHMARKS.md, End to end).

Answers do not depend on it: every placement is linked on its own, and the result lists placements in
the order `PlacementBuilder.build` gives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from tagger.placements import Placement, placement_order

if TYPE_CHECKING:  # linking is optional: tagging alone never imports its models
    from tagger.linking.decision import LinkThresholds
    from tagger.linking.linker import LinkResult, TrackLinker

LinkProgress = Callable[[int, int], None]


class LinkQueue:
    """Links placements on `threads` threads as they are submitted; `linked()` waits for them all.

    A failing link stops the queue: links not yet started are skipped, the next `submit` raises the
    error (so tagging stops too), and so does `linked()`. Use as a context manager so that no link
    is left running behind an error."""

    def __init__(self, linker: TrackLinker, thresholds: LinkThresholds | None, threads: int) -> None:
        self._linker = linker
        self._thresholds = thresholds
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="reelcart-link")
        self._pending: list[tuple[Placement, Future[LinkResult | None]]] = []
        self._failed = threading.Event()
        self._closed = False

    def __enter__(self) -> LinkQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def stopped(self) -> bool:
        """True once a link failed or the queue was closed: no further link starts."""
        return self._failed.is_set()

    def close(self) -> None:
        """Cancel what has not started and wait for what has."""
        self._closed = True
        self._failed.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, placements: Sequence[Placement]) -> None:
        """Start linking these placements (in this order, as threads free up)."""
        self._raise_failure()
        if self._closed:
            raise RuntimeError("this link queue is closed: placements can no longer be linked")
        for placement in placements:
            self._pending.append((placement, self._pool.submit(self._link, placement)))

    def linked(self, progress: LinkProgress | None = None) -> tuple[Placement, ...]:
        """Every submitted placement with its link, in `placement_order`; `progress(done, total)` after
        each. Raises the first failing link's error."""
        ordered = sorted(self._pending, key=lambda pending: placement_order(pending[0]))
        linked = []
        for done, (placement, future) in enumerate(ordered, start=1):
            result = future.result()
            if result is None:  # skipped after another link failed
                self._raise_failure()
                raise RuntimeError("a placement was not linked although no link failed")
            linked.append(replace(placement, link=result))
            if progress is not None:
                progress(done, len(ordered))
        return tuple(linked)

    def _link(self, placement: Placement) -> LinkResult | None:
        if self._failed.is_set():
            return None
        try:
            return self._linker.link_track(placement.crops, self._thresholds)
        except BaseException:
            self._failed.set()
            raise

    def _raise_failure(self) -> None:
        """Raise the first (in submission order) failed link's error, if any has failed; links started
        before the failure are waited for, those queued after it return at once."""
        if not self._failed.is_set():
            return
        for _, future in self._pending:
            if not future.cancelled() and future.exception() is not None:
                future.result()
