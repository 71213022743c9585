"""What a use case raises when it cannot do what was asked: no HTTP in sight.

Each domain names its own kinds in its `exceptions.py` (a status and a problem type each, as class
attributes); `api/problems.py` is the one place that turns any `ApiError` into problem+json. The CLI
prints the same detail. Shell-level kinds (bad input, not found, commerce configuration) live here.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    # Each kind sets these; `title` None means the status's standard title.
    status: int = 422
    slug: str = "validation-error"
    title: str | None = None

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers


class InvalidInput(ApiError):
    """A field that passed the schema but not the use case's rules (422)."""


class NotFound(ApiError):
    """Missing, or another brand's: the two answer alike, so ids are no existence oracle (404)."""

    status = 404
    slug = "not-found"

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")


class CommerceNotConfigured(ApiError):
    status = 503
    slug = "commerce-not-configured"


class StoredTokenUnreadable(ApiError):
    status = 503
    slug = "stored-token-unreadable"


class MediaUrlRefused(ApiError):
    """A media URL without a valid, unexpired signature (403); the slug says which."""

    status = 403

    def __init__(self, detail: str, *, slug: str) -> None:
        super().__init__(detail)
        self.slug = slug
