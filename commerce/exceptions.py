"""Errors raised by the commerce library. `api` maps them to HTTP; here they only carry context."""

from __future__ import annotations


class CommerceError(Exception):
    """Base class for every error the commerce library raises on purpose."""


class MoneyError(CommerceError, ValueError):
    """An amount or currency is not acceptable (negative, unknown ISO 4217 code, too precise)."""


class SettingsError(CommerceError, ValueError):
    """Commerce settings are unusable, e.g. a placeholder secret outside development."""


class TokenCryptoError(CommerceError):
    """A stored access token cannot be decrypted (wrong key, tampered or truncated ciphertext)."""


class CatalogError(CommerceError, ValueError):
    """A catalog record from a provider cannot be turned into a catalog product."""

    def __init__(self, provider: str, provider_id: str, reason: str) -> None:
        super().__init__(f"{provider} product {provider_id}: {reason}")
        self.provider = provider
        self.provider_id = provider_id
        self.reason = reason


class CheckoutRequestError(CommerceError, ValueError):
    """A checkout request is invalid before any provider is called (bad quantity, mixed currencies)."""


class ProviderError(CommerceError):
    """A payment or catalog provider refused a call or failed.

    `retryable` says whether sending the same request again (with the same idempotency key) may
    succeed; `status` is the provider's HTTP status when there was one.
    """

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.retryable = retryable
        self.status = status
        self.code = code


class ProviderTimeout(ProviderError):  # noqa: N818 -- the name the API layer is written against
    """A provider did not answer in time; always retryable with the same idempotency key."""

    def __init__(self, provider: str, timeout_s: float) -> None:
        super().__init__(provider, f"no answer within {timeout_s:g} s", retryable=True)
        self.timeout_s = timeout_s


class AuthorizationRefusedError(CommerceError):
    """A provider refused to grant access (an OAuth code that is invalid, expired or already used, or
    a callback whose signature does not match); nothing was granted."""

    def __init__(self, provider: str, reason: str) -> None:
        super().__init__(f"{provider}: {reason}")
        self.provider = provider
        self.reason = reason


class WebhookError(CommerceError):
    """A webhook delivery cannot be accepted. Messages never include the request body."""

    def __init__(self, provider: str, reason: str) -> None:
        super().__init__(f"{provider} webhook rejected: {reason}")
        self.provider = provider
        self.reason = reason


class WebhookSignatureError(WebhookError):
    """The signature is missing, forged, or (Stripe) its timestamp is outside the tolerance."""


class WebhookPayloadError(WebhookError):
    """The signature is valid but the body is not the JSON shape the provider documents."""
