"""What review refuses."""

from __future__ import annotations

from api.errors import ApiError


class NoProductChosen(ApiError, slug="no-product-chosen"):
    """Approving needs a product: none was given or chosen, and the placement has no candidate, or its
    link is below the brand's floor (an unknown product is never published on a guess)."""
