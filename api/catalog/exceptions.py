"""What the catalog refuses."""

from __future__ import annotations

from api.errors import ApiError


class UnsupportedImage(ApiError, slug="unsupported-image"):
    """Not a JPEG, PNG or WebP, does not decode, or its size is out of range."""


class DuplicateSku(ApiError, status=409, slug="duplicate-sku"):
    """A SKU the brand's catalog already has."""


class AlreadySold(ApiError, status=409, slug="already-sold"):
    """A product or variant sold through ReelCart: its checkouts and orders refer to it, so it stays."""


class LastVariantShown(ApiError, status=409, slug="last-variant-shown"):
    """The only variant of a product that published hotspots sell: without it they would sell nothing."""
