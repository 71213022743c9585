"""What episode registration refuses."""

from __future__ import annotations

from api.errors import ApiError


class UnusableMedia(ApiError):
    """Not a video the tagger can read (or no such file)."""

    slug = "unusable-media"


class PathNotAllowed(ApiError):
    """A server path outside the configured import roots."""

    slug = "path-not-allowed"


class UploadTooLarge(ApiError):
    status = 413
    slug = "payload-too-large"
