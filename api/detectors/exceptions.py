"""Errors of the detectors domain: what a train request cannot do (api/problems.py maps them)."""

from __future__ import annotations

import uuid

from api.errors import ApiError


class NoPackshots(ApiError, status=422, slug="no-packshots"):
    """The brand's catalog has no stored product image to train from."""

    def __init__(self) -> None:
        super().__init__(
            "the brand's catalog has no product with a stored image; a detector is trained from packshots"
        )


class TrainJobInProgress(ApiError, status=409, slug="job-in-progress"):
    """The brand already has a queued or running train job: one at a time per brand."""

    def __init__(self, job_id: uuid.UUID, state: str) -> None:
        super().__init__(f"the brand already has a {state} train job ({job_id})")
        self.job_id = job_id
