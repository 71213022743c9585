"""Commerce settings for the API, loaded on first use so an API without Stripe or Shopify still serves
everything else; routes that need them answer 503 until they are configured."""

from __future__ import annotations

import threading
from typing import Any

from api.errors import CommerceNotConfigured, StoredTokenUnreadable
from api.settings import ApiSettings
from commerce.crypto import TokenCipher
from commerce.exceptions import SettingsError, TokenCryptoError
from commerce.settings import CommerceSettings, load_commerce_settings

_STATE_ATTRIBUTE = "commerce_settings"
_lock = threading.Lock()


def load_for(settings: ApiSettings) -> CommerceSettings:
    """Read the commerce settings for this API's environment (placeholders refused outside development)."""
    # `.env` is read like ApiSettings reads it, so one file configures both.
    return load_commerce_settings(environment=settings.environment, _env_file=".env")


def commerce_settings(state: Any, settings: ApiSettings) -> CommerceSettings:
    """The app's commerce settings, built once and kept on `app.state` (tests put their own there).

    A refusal is not cached, so a fixed `.env` takes effect on the next request.
    """
    cached: CommerceSettings | None = getattr(state, _STATE_ATTRIBUTE, None)
    if cached is not None:
        return cached
    with _lock:
        cached = getattr(state, _STATE_ATTRIBUTE, None)
        if cached is None:
            try:
                cached = load_for(settings)
            except SettingsError as error:
                raise CommerceNotConfigured(f"checkout is not configured: {error}") from error
            setattr(state, _STATE_ATTRIBUTE, cached)
    return cached


def token_cipher(commerce: CommerceSettings) -> TokenCipher:
    return TokenCipher.from_settings(commerce)


def stored_token_problem(error: TokenCryptoError) -> StoredTokenUnreadable:
    """A stored token no configured key opens (the key was changed without keeping the old one)."""
    return StoredTokenUnreadable(
        f"{error}; reinstall the app in the shop (GET /v1/brands/me/providers/shopify/install?shop=…) "
        "or restore the previous key in REELCART_TOKEN_ENCRYPTION_PREVIOUS_KEYS"
    )
