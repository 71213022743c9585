"""Stripe Connect OAuth: the authorize URL a brand's owner opens, and the code exchange that proves
which account they control. An account id is only ever learnt from Stripe, never from a request."""

from __future__ import annotations

import stripe

from commerce.exceptions import AuthorizationRefusedError, SettingsError
from commerce.providers.stripe.client import PROVIDER, build_stripe_client, stripe_errors
from commerce.settings import CommerceSettings


def _client_id(settings: CommerceSettings) -> str:
    if settings.stripe_connect_client_id is None:
        raise SettingsError("Stripe Connect is not configured: set REELCART_STRIPE_CONNECT_CLIENT_ID (ca_…)")
    return settings.stripe_connect_client_id


def stripe_authorize_url(settings: CommerceSettings, *, state: str, redirect_uri: str) -> str:
    """Stripe's Connect authorize page (standard accounts, read_write), carrying our `state`."""
    client = build_stripe_client(settings)
    return client.oauth.authorize_url(
        params={
            "client_id": _client_id(settings),
            "response_type": "code",
            "scope": "read_write",
            "state": state,
            "redirect_uri": redirect_uri,
        }
    )


def exchange_stripe_code(settings: CommerceSettings, code: str) -> str:
    """The connected account id the authorization `code` was granted for.

    Stripe answers an invalid, expired or used code with `invalid_grant`: that is
    `AuthorizationRefusedError`; anything else (down, credentials) leaves as a `ProviderError`.
    """
    _client_id(settings)
    client = build_stripe_client(settings)
    with stripe_errors(settings.stripe_timeout_s):
        try:
            token = client.oauth.token(params={"grant_type": "authorization_code", "code": code})
        except stripe.oauth_error.InvalidGrantError as error:
            # The code is the caller's: invalid, expired or used. Other OAuth errors (a wrong client
            # id, say) are the platform's and leave as a ProviderError through stripe_errors.
            raise AuthorizationRefusedError(
                PROVIDER, f"the authorization code was refused: {str(error) or 'invalid_grant'}"
            ) from None
    account = token.stripe_user_id
    if not isinstance(account, str) or not account.startswith("acct_"):
        raise AuthorizationRefusedError(PROVIDER, "the token answer names no connected account")
    return account
