"""Job states, shared by every job table."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """Where a background job (tagging, re-linking) stands; the same four states for every kind."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
