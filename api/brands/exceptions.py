"""What a brand's settings and provider connections refuse."""

from __future__ import annotations

from api.errors import ApiError


class ProviderAccountTaken(ApiError, status=409, slug="provider-account-taken"):
    """The Stripe account or Shopify shop is already another brand's."""


class ProviderNotConnected(ApiError, status=409, slug="provider-not-connected"):
    """The brand asked for a provider it has not connected (checkout, sync, default provider)."""
