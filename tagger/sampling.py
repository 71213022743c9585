"""Which decoded frames the detector sees: a steady rate, plus a denser start after every cut.

New shots are where new products appear and tracks must be born quickly, so the first frame of a
shot is always detected and the next few detections come sooner than the steady period. While the
tracker is unsure (a track is being born, or boxes jump further between detections than an IoU
tracker can follow) it asks for a short burst at a higher rate.

The schedule is shared by the decoding thread (`wants`) and the detecting thread (`done`). So that
results never depend on thread timing, the tracker's answer about the sample at time t applies from
t + lead on, and the decoder waits for that answer before it decides on any frame after t + lead.
"""

from __future__ import annotations

import threading
from collections import deque

# A sample may land this early: decoded frames rarely sit exactly on the period.
_SLACK_MS = 20.0
# How long the decoder waits for the detector before re-checking whether it was closed.
_POLL_S = 0.1


class DetectionSchedule:
    def __init__(
        self,
        sample_fps: float,
        frames_after_cut: int = 2,
        boost_fps: float | None = None,
        *,
        boost_ms: float = 0.0,
        lead_ms: float | None = None,
        await_feedback: bool = False,
    ) -> None:
        if sample_fps <= 0:
            raise ValueError(f"sample_fps must be positive, got {sample_fps}")
        if frames_after_cut < 1:
            raise ValueError(f"frames_after_cut must be at least 1, got {frames_after_cut}")
        self._period_ms = 1000.0 / sample_fps
        self._boost_period_ms = min(self._period_ms, 1000.0 / boost_fps) if boost_fps else self._period_ms
        self._boost_ms = boost_ms
        self._lead_ms = self._period_ms if lead_ms is None else lead_ms
        self._frames_after_cut = frames_after_cut
        self._last_ms: float | None = None
        self._next_ms = 0.0
        self._dense_left = 0
        self._boosts: list[tuple[float, float]] = []
        self._shot_start_ms = -1.0
        self._pending: deque[int] = deque()
        self._changed = threading.Condition()
        self._closed = False
        # Only a pipeline with a detector calling `done` may make the decoder wait for it.
        self._await = await_feedback

    def wants(self, t_ms: int, starts_shot: bool) -> bool:
        """Whether to detect on the frame shown at `t_ms`; call once per decoded frame, in order."""
        self._await_feedback(t_ms)
        if starts_shot or self._last_ms is None:
            self._dense_left = self._frames_after_cut - 1
            with self._changed:
                self._boosts.clear()
                self._shot_start_ms = t_ms
        else:
            boosted = self._boosted(t_ms) and t_ms >= self._last_ms + self._boost_period_ms - _SLACK_MS
            if t_ms < self._next_ms and not boosted:
                return False
        if self._dense_left > 0:
            self._dense_left -= 1
            step = self._period_ms / self._frames_after_cut
        else:
            step = self._period_ms
        self._last_ms = t_ms
        self._next_ms = t_ms + step - _SLACK_MS
        if self._await:
            with self._changed:
                self._pending.append(t_ms)
        return True

    def done(self, t_ms: int, *, unsettled: bool) -> None:
        """The detector has handled the sample at `t_ms`; `unsettled` asks for a burst of detections."""
        with self._changed:
            # A late answer about the previous shot must not boost this one.
            if unsettled and self._boost_ms > 0 and t_ms >= self._shot_start_ms:
                self._boosts.append((t_ms + self._lead_ms, t_ms + self._boost_ms))
            if self._pending and self._pending[0] == t_ms:
                self._pending.popleft()
            self._changed.notify_all()

    def close(self) -> None:
        """Release a waiting decoder (the detector stopped early, e.g. on an error)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _boosted(self, t_ms: int) -> bool:
        with self._changed:
            self._boosts = [(start, end) for start, end in self._boosts if end > t_ms]
            return any(start <= t_ms for start, _ in self._boosts)

    def _await_feedback(self, t_ms: int) -> None:
        with self._changed:
            while not self._closed and self._pending and self._pending[0] + self._lead_ms <= t_ms:
                self._changed.wait(_POLL_S)
