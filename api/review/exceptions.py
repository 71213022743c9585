"""What review refuses."""

from __future__ import annotations

from api.errors import ApiError


class NoProductChosen(ApiError, slug="no-product-chosen"):
    """Approving needs a product: none was given or chosen, and the placement has no candidate, or its
    link is below the brand's floor (an unknown product is never published on a guess)."""


class IdempotencyKeyReused(ApiError, status=409, slug="idempotency-key-reused"):
    """An `Idempotency-Key` sent again with another request than the one it was first used for."""


class NotDrawnByHand(ApiError, status=409, slug="not-drawn-by-hand"):
    """Only a placement a person drew is followed: the tagger's were followed by the tagger."""


class FollowJobInProgress(ApiError, status=409, slug="job-in-progress"):
    """The placement already has a queued or running follow job."""
