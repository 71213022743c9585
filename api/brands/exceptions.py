"""What a brand's settings and provider connections refuse."""

from __future__ import annotations

from api.errors import ApiError


class ProviderAccountTaken(ApiError, status=409, slug="provider-account-taken"):
    """The Stripe account or Shopify shop is already another brand's."""


class ProviderNotConnected(ApiError, status=409, slug="provider-not-connected"):
    """The brand asked for a provider it has not connected (checkout, sync, default provider)."""


class ConnectStateRefused(ApiError, status=400, slug="invalid-connect-state"):
    """A provider callback's `state` is forged, expired, already used, or another flow's."""


class ProviderAuthorizationRefused(ApiError, status=400, slug="provider-authorization-refused"):
    """The provider did not grant access: the owner declined, or the code was invalid or used."""


class InvalidCallbackSignature(ApiError, status=400, slug="invalid-callback-signature"):
    """A Shopify install callback whose query the app secret did not sign."""
