"""What episode registration refuses."""

from __future__ import annotations

from api.errors import ApiError


class UnusableMedia(ApiError, slug="unusable-media"):
    """Not a video the tagger can read (or no such file)."""


class PathNotAllowed(ApiError, slug="path-not-allowed"):
    """A server path outside the configured import roots."""


class UploadTooLarge(ApiError, status=413, slug="payload-too-large"):
    """An upload over `REELCART_MAX_UPLOAD_BYTES`."""
