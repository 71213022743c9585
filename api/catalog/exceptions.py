"""What the catalog refuses."""

from __future__ import annotations

from api.errors import ApiError


class UnsupportedImage(ApiError):
    """Not a JPEG, PNG or WebP, does not decode, or its size is out of range."""

    slug = "unsupported-image"


class DuplicateSku(ApiError):
    status = 409
    slug = "duplicate-sku"
