"""What review refuses."""

from __future__ import annotations

from api.errors import ApiError


class EditConflict(ApiError):
    """The placement changed since the reviewer loaded it (If-Match names an older version)."""

    status = 412
    slug = "edit-conflict"


class NoProductChosen(ApiError):
    """Approving needs a product: none was given and the placement has no candidate."""

    slug = "no-product-chosen"
