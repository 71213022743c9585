"""Shopify checkout for one tap: a Storefront API cart (httpx), or a cart permalink without a token."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

import httpx

from commerce.checkout import CheckoutRequest, CheckoutResult, CheckoutUi
from commerce.exceptions import CheckoutRequestError, MoneyError, ProviderError, ProviderTimeout
from commerce.money import Money
from commerce.providers.shopify.admin import PROVIDER, SHOP_DOMAIN, parse_graphql_response
from commerce.providers.shopify.documents import load_document
from commerce.settings import CommerceSettings

_VARIANT_GID = re.compile(r"^gid://shopify/ProductVariant/(\d+)$")
_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def shop_origin(settings: CommerceSettings, shop_domain: str) -> str:
    if settings.shopify_base_url is not None:
        return settings.shopify_base_url
    if not SHOP_DOMAIN.match(shop_domain):
        # Refuse anything else: the domain ends up in a URL we send a token to.
        raise CheckoutRequestError(f"not a myshopify.com domain: {shop_domain!r}")
    return f"https://{shop_domain}"


def cart_attributes(request: CheckoutRequest) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in request.attribution.as_pairs().items()]


def cart_permalink(origin: str, request: CheckoutRequest) -> str:
    """https://{shop}/cart/{variant}:{qty},…?attributes[k]=v — attributes reach the order like a cart's."""
    items = ",".join(f"{numeric_variant_id(line.variant_ref)}:{line.quantity}" for line in request.lines)
    query = {f"attributes[{pair['key']}]": pair["value"] for pair in cart_attributes(request)}
    query["ref"] = "reelcart"
    return f"{origin}/cart/{items}?{urlencode(query)}"


def cart_create_variables(request: CheckoutRequest) -> dict[str, Any]:
    lines = [{"merchandiseId": line.variant_ref, "quantity": line.quantity} for line in request.lines]
    return {"input": {"lines": lines, "attributes": cart_attributes(request)}}


def numeric_variant_id(variant_ref: str) -> str:
    match = _VARIANT_GID.match(variant_ref)
    if match is None:
        raise CheckoutRequestError(f"not a Shopify variant GID: {variant_ref!r}")
    return match.group(1)


class ShopifyCheckoutProvider:
    """Storefront `cartCreate` when a Storefront token is configured, else a cart permalink.

    cartCreate has no idempotency key, so a double tap may create two carts. That is harmless: a cart
    charges nothing, and the API keeps one CheckoutSession per click id.
    """

    provider = PROVIDER

    def __init__(
        self,
        settings: CommerceSettings,
        *,
        shop_domain: str,
        storefront_token: str | None,
        http: httpx.Client | None = None,
    ) -> None:
        self._origin = shop_origin(settings, shop_domain)
        self._shop_domain = shop_domain
        self._version = settings.shopify_storefront_api_version
        self._token = storefront_token
        self._access = settings.shopify_storefront_access
        self._timeout_s = settings.shopify_timeout_s
        # A shared client (the API's, for connection reuse) or one per call, closed right after.
        self._http = http

    def create_checkout(self, request: CheckoutRequest) -> CheckoutResult:
        for line in request.lines:
            numeric_variant_id(line.variant_ref)
        key = request.idempotency_key(PROVIDER, self._shop_domain)
        if not self._token:
            url = cart_permalink(self._origin, request)
            # A permalink creates nothing at Shopify, so the click-derived key stands in for a session id.
            return CheckoutResult(
                PROVIDER, provider_session_id=key, ui=CheckoutUi.HOSTED, idempotency_key=key, redirect_url=url
            )
        payload = self._cart_create(request)
        cart = payload.get("cart")
        errors = payload.get("userErrors") or []
        if errors or not isinstance(cart, dict):
            first = errors[0] if errors else {"message": "no cart returned", "code": None}
            raise ProviderError(
                PROVIDER,
                f"cartCreate refused: {first.get('message')}"[:300],
                retryable=False,
                code=first.get("code"),
            )
        return CheckoutResult(
            PROVIDER,
            provider_session_id=str(cart["id"]),
            ui=CheckoutUi.HOSTED,
            idempotency_key=key,
            redirect_url=str(cart["checkoutUrl"]),
            provider_total=_cart_total(cart),
        )

    def _headers(self, request: CheckoutRequest) -> dict[str, str]:
        token = self._token or ""
        if self._access == "public":
            return {"X-Shopify-Storefront-Access-Token": token, "Accept": "application/json"}
        headers = {"Shopify-Storefront-Private-Token": token, "Accept": "application/json"}
        if request.buyer_ip:
            headers["Shopify-Storefront-Buyer-IP"] = request.buyer_ip
        return headers

    def _cart_create(self, request: CheckoutRequest) -> dict[str, Any]:
        variables = cart_create_variables(request)
        endpoint = f"{self._origin}/api/{self._version}/graphql.json"
        headers = self._headers(request)
        body = {
            "query": load_document("cart_create.graphql"),
            "variables": variables,
            "operationName": "CartCreate",
        }
        try:
            if self._http is not None:
                response = self._http.post(endpoint, json=body, headers=headers, timeout=self._timeout_s)
            else:
                with httpx.Client(timeout=self._timeout_s) as client:
                    response = client.post(endpoint, json=body, headers=headers)
        except httpx.TimeoutException:
            raise ProviderTimeout(PROVIDER, self._timeout_s) from None
        except httpx.TransportError:
            raise ProviderError(PROVIDER, "cannot reach the Storefront API", retryable=True) from None
        if response.status_code != 200:
            status = response.status_code
            raise ProviderError(
                PROVIDER,
                f"Storefront API answered HTTP {status}",
                retryable=status in _RETRYABLE_STATUSES,
                status=status,
            )
        data = parse_graphql_response(response.text)
        payload = data.get("cartCreate")
        if not isinstance(payload, dict):
            raise ProviderError(PROVIDER, "cartCreate returned nothing", retryable=False)
        return payload


def _cart_total(cart: dict[str, Any]) -> Money | None:
    total = ((cart.get("cost") or {}).get("totalAmount")) or {}
    try:
        return Money(Decimal(str(total["amount"])), str(total["currencyCode"]))
    except (KeyError, InvalidOperation, MoneyError):
        return None
