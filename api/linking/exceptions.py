"""What linking refuses."""

from __future__ import annotations

from api.errors import ApiError


class MarksNotCheckable(ApiError, status=409, slug="index-not-ready"):
    """The catalog index does not hold the marked image yet: the next index-only link job adds it."""
