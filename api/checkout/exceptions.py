"""Why a tap cannot become a checkout."""

from __future__ import annotations

from api.errors import ApiError


class PlacementNotShoppable(ApiError, status=409, slug="placement-not-shoppable"):
    """Only approved placements showing a product sell."""


class VariantNotInPlacement(ApiError, slug="variant-not-in-placement"):
    """The variant belongs to another product than the one the placement shows."""


class VariantUnavailable(ApiError, status=409, slug="variant-unavailable"):
    """Sold out."""


class VariantNotSynced(ApiError, status=409, slug="variant-not-synced"):
    """A Shopify checkout needs the variant's Shopify id, which only a catalog sync brings."""


class ClickIdReused(ApiError, status=409, slug="click-id-reused"):
    """The click id already started a different checkout."""


class CheckoutClosed(ApiError, status=409, slug="checkout-closed"):
    """The click id's checkout is no longer open: a new tap needs a new click id."""
