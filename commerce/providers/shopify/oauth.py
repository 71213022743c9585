"""Shopify's app install (OAuth authorization code grant): the authorize URL, the callback's HMAC, and
the code exchange for an offline Admin API token. A shop is bound only once Shopify has said so."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from commerce.exceptions import AuthorizationRefusedError, ProviderError, ProviderTimeout, SettingsError
from commerce.providers.shopify.admin import SHOP_DOMAIN, ShopifyAdmin
from commerce.providers.shopify.documents import load_document
from commerce.settings import CommerceSettings

PROVIDER = "shopify"


# Storefront carts need this scope; without it the install gets no Storefront token (cart permalinks).
STOREFRONT_SCOPE = "unauthenticated_write_checkouts"


@dataclass(frozen=True, slots=True)
class ShopifyGrant:
    """What the code exchange granted: an offline token (no expiry) and the scopes it carries."""

    access_token: str
    scopes: frozenset[str]

    @property
    def allows_storefront(self) -> bool:
        return STOREFRONT_SCOPE in self.scopes


def _api_key(settings: CommerceSettings) -> str:
    if not settings.shopify_api_key:
        raise SettingsError("the Shopify app is not configured: set REELCART_SHOPIFY_API_KEY (its client id)")
    return settings.shopify_api_key


def _shop_base(settings: CommerceSettings, shop: str) -> str:
    if not SHOP_DOMAIN.match(shop):
        raise AuthorizationRefusedError(PROVIDER, f"{shop!r} is not a shop domain (name.myshopify.com)")
    return settings.shopify_base_url or f"https://{shop}"


def install_url(settings: CommerceSettings, *, shop: str, state: str, redirect_uri: str) -> str:
    """The shop's authorize page: offline access (no per-user grant) for the configured scopes."""
    query = urlencode(
        {
            "client_id": _api_key(settings),
            "scope": settings.shopify_scopes,
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"{_shop_base(settings, shop)}/admin/oauth/authorize?{query}"


def callback_hmac(params: Iterable[tuple[str, str]], secret: str) -> str:
    """Hex HMAC-SHA256 of the callback's query as Shopify signs it: every parameter but `hmac`,
    delimiters escaped, `key=value` pairs sorted and joined with `&`."""
    pairs = []
    for key, value in params:
        if key == "hmac":
            continue
        escaped_key = key.replace("%", "%25").replace("=", "%3D").replace("&", "%26")
        escaped_value = value.replace("%", "%25").replace("&", "%26")
        pairs.append(f"{escaped_key}={escaped_value}")
    message = "&".join(sorted(pairs))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def verify_callback(params: list[tuple[str, str]], settings: CommerceSettings) -> None:
    """Refuse a callback query Shopify did not sign with the app secret (or that repeats a name)."""
    names = [key for key, _ in params]
    if len(set(names)) != len(names):
        raise AuthorizationRefusedError(PROVIDER, "the callback repeats a query parameter")
    given = dict(params).get("hmac")
    if not given:
        raise AuthorizationRefusedError(PROVIDER, "the callback carries no hmac")
    expected = callback_hmac(params, settings.shopify_api_secret.get_secret_value())
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
        raise AuthorizationRefusedError(PROVIDER, "the callback's hmac does not match its query")


def exchange_shopify_code(settings: CommerceSettings, *, shop: str, code: str) -> ShopifyGrant:
    """POST the code to https://{shop}/admin/oauth/access_token (or the configured base URL).

    Shopify answers a bad, expired or used code with 400: `AuthorizationRefusedError`. Throttling, 5xx
    and network failures leave as a retryable `ProviderError` (a new install gets a new code).
    """
    url = f"{_shop_base(settings, shop)}/admin/oauth/access_token"
    body = json.dumps(
        {
            "client_id": _api_key(settings),
            "client_secret": settings.shopify_api_secret.get_secret_value(),
            "code": code,
        }
    ).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    request = urllib.request.Request(url, body, headers, method="POST")  # noqa: S310 -- https or a configured base URL
    try:
        with urllib.request.urlopen(request, timeout=settings.shopify_timeout_s) as response:  # noqa: S310
            raw = response.read()
    except urllib.error.HTTPError as error:
        status = error.code
        error.close()
        if status in {400, 401, 403, 404}:
            raise AuthorizationRefusedError(
                PROVIDER, f"the shop refused the authorization code (HTTP {status})"
            ) from None
        raise ProviderError(
            PROVIDER, f"the token exchange answered HTTP {status}", retryable=status >= 429, status=status
        ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        if isinstance(error, TimeoutError) or isinstance(getattr(error, "reason", None), TimeoutError):
            raise ProviderTimeout(PROVIDER, settings.shopify_timeout_s) from None
        raise ProviderError(
            PROVIDER, "cannot reach the shop for the token exchange", retryable=True
        ) from None
    return _grant(raw)


def storefront_token_variables() -> dict[str, Any]:
    return {"input": {"title": "ReelCart checkout"}}


def create_storefront_token(settings: CommerceSettings, *, shop: str, access_token: str) -> str:
    """A Storefront API token for the shop, made with its new Admin token (sent once, never retried:
    a retry could make two). Failures leave as `ProviderError`."""
    admin = ShopifyAdmin(settings, shop_domain=shop, access_token=access_token)
    data = admin.mutate(load_document("storefront_token_create.graphql"), storefront_token_variables())
    created = data.get("storefrontAccessTokenCreate") or {}
    errors = created.get("userErrors") or []
    if errors:
        message = errors[0].get("message", "refused") if isinstance(errors[0], dict) else str(errors[0])
        raise ProviderError(PROVIDER, f"storefrontAccessTokenCreate: {message}"[:300], retryable=False)
    token = (created.get("storefrontAccessToken") or {}).get("accessToken")
    if not isinstance(token, str) or not token:
        raise ProviderError(PROVIDER, "storefrontAccessTokenCreate returned no token", retryable=False)
    return token


def _grant(raw: bytes) -> ShopifyGrant:
    try:
        answer = json.loads(raw)
    except json.JSONDecodeError:
        raise ProviderError(PROVIDER, "the token exchange answer is not JSON", retryable=False) from None
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise ProviderError(PROVIDER, "the token exchange answer carries no access token", retryable=False)
    scope = answer.get("scope") if isinstance(answer, dict) else None
    scopes = (
        frozenset(part for part in (scope or "").split(",") if part)
        if isinstance(scope, str)
        else frozenset()
    )
    return ShopifyGrant(access_token=token, scopes=scopes)
