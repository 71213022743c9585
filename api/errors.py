"""What a use case raises when it cannot do what was asked: no HTTP in sight.

Each domain names its own kinds in its `exceptions.py` (a status and a problem type each, as class
attributes); `api/problems.py` is the one place that turns any `ApiError` into problem+json. The CLI
prints the same detail. Shell-level kinds (bad input, not found, commerce configuration) live here.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Each kind names its status and problem type in its class line:
    `class CheckoutClosed(ApiError, status=409, slug="checkout-closed")`. `title` None means the
    status's standard title."""

    status: int = 422
    slug: str = "validation-error"
    title: str | None = None

    def __init_subclass__(cls, *, status: int | None = None, slug: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if slug is not None:
            cls.slug = slug

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


class NotFound(ApiError, status=404, slug="not-found"):
    """Missing, or another brand's: the two answer alike, so ids are no existence oracle (404)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")


class CommerceNotConfigured(ApiError, status=503, slug="commerce-not-configured"):
    """The operator has not configured the providers' platform keys."""


class StoredTokenUnreadable(ApiError, status=503, slug="stored-token-unreadable"):
    """A stored provider token no configured key decrypts (the key was rotated away)."""


class MediaUrlRefused(ApiError, status=403):
    """A media URL without a valid, unexpired signature (403); the slug says which."""

    def __init__(self, detail: str, *, slug: str) -> None:
        super().__init__(detail)
        self.slug = slug


class ApiKeyRefused(ApiError, status=401, slug="invalid-api-key"):
    """The bearer key is unknown, revoked or expired; the detail and the slug say which."""

    def __init__(self, detail: str, *, slug: str) -> None:
        super().__init__(
            detail, headers={"WWW-Authenticate": 'Bearer realm="reelcart", error="invalid_token"'}
        )
        self.slug = slug


class EditConflict(ApiError, status=412, slug="edit-conflict"):
    """The row changed since the client loaded it: `If-Match` names an older version (`api.versioning`)."""


class PreconditionRequired(ApiError, status=428, slug="precondition-required"):
    """A write without `If-Match` where one is required: it could silently undo a colleague's edit."""


class TooManyRequests(ApiError, status=429, slug="rate-limited"):
    """A client or key went past one of its rate limits; `Retry-After` says when to try again."""

    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)})
        self.retry_after_s = retry_after_s
