"""A TagFunction for worker-process tests and queue benchmarks, named by REELCART_TAG_FUNCTION
(`tests.utils.worker_tagging:timed_tag`): it takes REELCART_TEST_TAG_SECONDS (default 2) reporting
progress like the real pipeline, and returns the same two placements for any episode, so a run
interrupted and redone can be compared with an undisturbed one. An episode whose media file is named
`poison.mp4` fails every time with a provider timeout (a transient error), to test retries. With
REELCART_TEST_TAG_PID_FILE set, it appends "<media file stem> <pid>" there as it starts.

It exists because the real detector takes minutes on these shared machines; it replaces only the
detection step: claims, leases, heartbeats, storing placements, retries and the broker are real."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import httpx

from api.jobs.models import JobPhase
from api.jobs.tagging import PlacementDraft, ProgressCallback, TagOutcome

STEPS = 10


def timed_tag(
    media_path: Path, *, brand_id: uuid.UUID, thumbnails_dir: Path, progress: ProgressCallback
) -> TagOutcome:
    if media_path.name == "poison.mp4":
        raise httpx.ConnectTimeout("the provider did not answer")
    seconds = float(os.environ.get("REELCART_TEST_TAG_SECONDS", "2"))
    pid_file = os.environ.get("REELCART_TEST_TAG_PID_FILE")
    if pid_file:  # which worker process runs which episode, for tests that stop or kill that process
        with open(pid_file, "a", encoding="utf-8") as pids:
            pids.write(f"{media_path.stem} {os.getpid()}\n")
    for step in range(STEPS):
        time.sleep(seconds / STEPS)
        progress((step + 1) / STEPS * 0.9, JobPhase.DETECT)
    drafts = [_draft(0, 1500, "bottle", 0.91), _draft(4000, 6500, "handbag", 0.77)]
    return TagOutcome(drafts, seconds={"detect": seconds})


def _draft(start_ms: int, end_ms: int, label: str, confidence: float) -> PlacementDraft:
    return PlacementDraft(
        start_ms=start_ms,
        end_ms=end_ms,
        start_frame=start_ms * 30 // 1000,
        end_frame=end_ms * 30 // 1000,
        label=label,
        confidence=confidence,
        keyframes=[{"t_ms": start_ms, "box": [0.1, 0.2, 0.3, 0.4]}],
    )
