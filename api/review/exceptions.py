"""What review refuses."""

from __future__ import annotations

from api.errors import ApiError


class EditConflict(ApiError, status=412, slug="edit-conflict"):
    """The placement changed since the reviewer loaded it (If-Match names an older version)."""


class NoProductChosen(ApiError, slug="no-product-chosen"):
    """Approving needs a product: none was given or chosen, and the placement has no candidate, or its
    link is below the brand's floor (an unknown product is never published on a guess)."""


class PreconditionRequired(ApiError, status=428, slug="precondition-required"):
    """A write without `If-Match`: it could silently undo a colleague's edit, so it is refused."""
