"""Why a tap cannot become a checkout."""

from __future__ import annotations

from api.errors import ApiError


class PlacementNotShoppable(ApiError):
    """Only approved placements showing a product sell."""

    status = 409
    slug = "placement-not-shoppable"


class VariantNotInPlacement(ApiError):
    slug = "variant-not-in-placement"


class VariantUnavailable(ApiError):
    status = 409
    slug = "variant-unavailable"


class VariantNotSynced(ApiError):
    """A Shopify checkout needs the variant's Shopify id, which only a catalog sync brings."""

    status = 409
    slug = "variant-not-synced"


class ClickIdReused(ApiError):
    """The click id already started a different checkout."""

    status = 409
    slug = "click-id-reused"


class CheckoutClosed(ApiError):
    """The click id's checkout is no longer open: a new tap needs a new click id."""

    status = 409
    slug = "checkout-closed"
