"""Shopify checkout: Storefront cartCreate over httpx against a loopback shop, permalink fallback."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from commerce.checkout import CheckoutResult, CheckoutUi
from commerce.exceptions import CheckoutRequestError, ProviderError, ProviderTimeout
from commerce.money import Money
from commerce.providers.shopify import ShopifyCheckoutProvider
from tests.commerce.fakes.loopback import LoopbackServer, Reply
from tests.commerce.fakes.shopify_fake import SHOP, STOREFRONT_TOKEN, FakeShopify, product_node, variant_node
from tests.utils.commerce import make_request, make_settings

Fake = tuple[FakeShopify, LoopbackServer]
VARIANT = "gid://shopify/ProductVariant/11"


def provider_for(
    server: LoopbackServer, token: str | None = STOREFRONT_TOKEN, **settings: object
) -> ShopifyCheckoutProvider:
    return ShopifyCheckoutProvider(
        make_settings(shopify_base_url=server.base_url, **settings), shop_domain=SHOP, storefront_token=token
    )


def stock(fake: FakeShopify) -> None:
    fake.products = [
        product_node(1, "Lead hoodie", [variant_node(11), variant_node(12, available=False, title="L")]),
    ]


def test_cart_create_sends_lines_and_attribution_and_returns_the_checkout_url(fake_shopify: Fake) -> None:
    # Given
    fake, server = fake_shopify
    stock(fake)
    request = make_request(quantity=2, variant_ref=VARIANT, product_ref=None, ui=CheckoutUi.HOSTED)

    # When
    result = provider_for(server).create_checkout(request)

    # Then the Storefront API got our variant, quantity and attribution as cart attributes
    (sent,) = server.requests
    assert (sent.path, sent.headers["x-shopify-storefront-access-token"]) == (
        "/api/2026-04/graphql.json",
        STOREFRONT_TOKEN,
    )
    assert sent.json()["variables"] == {
        "input": {
            "lines": [{"merchandiseId": VARIANT, "quantity": 2}],
            "attributes": [
                {"key": "reelcart_click_id", "value": "click-7f3a"},
                {"key": "reelcart_placement_id", "value": "plc-42"},
                {"key": "reelcart_episode_id", "value": "ep-3"},
            ],
        }
    }
    assert result == CheckoutResult(
        provider="shopify",
        provider_session_id="gid://shopify/Cart/c1-0001",
        ui=CheckoutUi.HOSTED,
        idempotency_key=request.idempotency_key("shopify", SHOP),
        redirect_url=f"https://{SHOP}/cart/c/c1-0001?key=k1",
        provider_total=Money(Decimal("119.80"), "EUR"),
    )


def test_a_private_storefront_token_travels_with_the_buyer_ip(fake_shopify: Fake) -> None:
    # Given a private (server-to-server) token and the shopper's IP from the API request
    fake, server = fake_shopify
    stock(fake)
    request = replace(make_request(variant_ref=VARIANT, product_ref=None), buyer_ip="203.0.113.7")

    # When
    provider_for(server, shopify_storefront_access="private").create_checkout(request)

    # Then
    headers = server.requests[0].headers
    assert (
        headers.get("shopify-storefront-private-token"),
        headers.get("shopify-storefront-buyer-ip"),
        headers.get("x-shopify-storefront-access-token"),
    ) == (STOREFRONT_TOKEN, "203.0.113.7", None)


def test_an_unavailable_variant_is_refused_by_shopify(fake_shopify: Fake) -> None:
    fake, server = fake_shopify
    stock(fake)
    request = make_request(variant_ref="gid://shopify/ProductVariant/12", product_ref=None)

    with pytest.raises(ProviderError) as error:
        provider_for(server).create_checkout(request)

    assert (error.value.retryable, error.value.code, str(error.value)) == (
        False,
        "MERCHANDISE_NOT_ENOUGH_STOCK",
        "shopify: cartCreate refused: The product is sold out.",
    )


def test_without_a_storefront_token_the_checkout_is_a_cart_permalink(fake_shopify: Fake) -> None:
    # Given no Storefront token for this shop
    _, server = fake_shopify
    request = make_request(quantity=3, variant_ref=VARIANT, product_ref=None)

    # When
    result = provider_for(server, token=None).create_checkout(request)

    # Then no API call was made and the link carries the variant, quantity and attribution
    assert server.requests == []
    assert result.redirect_url is not None
    link = urlsplit(result.redirect_url)
    assert (link.path, dict(parse_qsl(link.query))) == (
        "/cart/11:3",
        {
            "attributes[reelcart_click_id]": "click-7f3a",
            "attributes[reelcart_placement_id]": "plc-42",
            "attributes[reelcart_episode_id]": "ep-3",
            "ref": "reelcart",
        },
    )
    assert (result.provider_session_id, result.ui) == (
        request.idempotency_key("shopify", SHOP),
        CheckoutUi.HOSTED,
    )


def test_a_variant_that_is_not_a_shopify_gid_is_refused_before_any_call(fake_shopify: Fake) -> None:
    _, server = fake_shopify

    with pytest.raises(CheckoutRequestError, match="not a Shopify variant GID"):
        provider_for(server).create_checkout(make_request(variant_ref="price_hoodie_m"))
    assert server.requests == []


def test_a_shop_domain_outside_myshopify_is_refused() -> None:
    with pytest.raises(CheckoutRequestError, match=r"not a myshopify\.com domain"):
        ShopifyCheckoutProvider(make_settings(), shop_domain="evil.example/steal?", storefront_token="t")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply.json(503, {"errors": "unavailable"}), (True, 503)),
        (Reply.json(401, {"errors": [{"message": "Unauthorized"}]}), (False, 401)),
    ],
)
def test_storefront_http_failures_become_provider_errors(
    fake_shopify: Fake, reply: Reply, expected: tuple[bool, int]
) -> None:
    fake, server = fake_shopify
    fake.faults.append(reply)

    with pytest.raises(ProviderError) as error:
        provider_for(server).create_checkout(make_request(variant_ref=VARIANT))

    assert (error.value.retryable, error.value.status) == expected


def test_a_slow_storefront_is_a_provider_timeout(fake_shopify: Fake) -> None:
    fake, server = fake_shopify
    fake.faults.append(Reply(200, b"{}", delay_s=1.0))

    with pytest.raises(ProviderTimeout) as error:
        provider_for(server, shopify_timeout_s=0.3).create_checkout(make_request(variant_ref=VARIANT))

    assert (error.value.provider, error.value.retryable, error.value.timeout_s) == ("shopify", True, 0.3)


def test_a_shared_http_client_is_used_and_left_open_for_the_next_call(fake_shopify: Fake) -> None:
    # Given the API's long-lived httpx client
    fake, server = fake_shopify
    stock(fake)
    with httpx.Client() as shared:
        provider = ShopifyCheckoutProvider(
            make_settings(shopify_base_url=server.base_url),
            shop_domain=SHOP,
            storefront_token=STOREFRONT_TOKEN,
            http=shared,
        )

        # When two taps check out
        first = provider.create_checkout(
            make_request(click_id="click-1", variant_ref=VARIANT, product_ref=None)
        )
        second = provider.create_checkout(
            make_request(click_id="click-2", variant_ref=VARIANT, product_ref=None)
        )

        # Then both carts exist and the client is still usable
        assert (first.provider_session_id, second.provider_session_id, shared.is_closed) == (
            "gid://shopify/Cart/c1-0001",
            "gid://shopify/Cart/c1-0002",
            False,
        )
