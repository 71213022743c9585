"""A brand binds a Stripe account or a Shopify shop only through the provider's proof of control:
Stripe Connect OAuth and Shopify's app install, against the loopback fakes through the real SDK and
HTTP code. A state is signed, short-lived, single-use and bound to its brand (and shop)."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from api.brands.models import Brand, CheckoutProviderName
from api.brands.oauth import ConnectState, encode_state, issue_state
from api.settings import ApiSettings
from commerce.crypto import TokenCipher
from commerce.providers.shopify import callback_hmac
from tests.api.commerce_support import (
    ACCOUNT,
    SHOP,
    SHOPIFY_API_SECRET,
    SHOPIFY_VARIANT,
    World,
    make_shoppable,
)
from tests.commerce.fakes.loopback import Reply
from tests.commerce.fakes.shopify_fake import APP_CLIENT_ID, STOREFRONT_TOKEN, product_node, variant_node
from tests.utils.api import BrandAccount

CLIENT_ID = "ca_LoopbackPlatform"
SECRET_KEY = "test-secret-key-not-a-placeholder"  # the `settings` fixture's
INSTALLED_TOKEN = "shpat_installed_by_oauth"


@pytest.fixture
def connecting(world: World) -> World:
    """The platform's Connect client id and the Shopify app's client id are configured."""
    world.configure(stripe_connect_client_id=CLIENT_ID, shopify_api_key=APP_CLIENT_ID)
    world.shopify.app_secret = SHOPIFY_API_SECRET
    return world


def providers(client: TestClient, brand: BrandAccount) -> dict[str, Any]:
    response = client.get("/v1/brands/me", headers=brand.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["providers"]
    return found


NOTHING = {
    "stripe": {"connected": False, "account_id": None},
    "shopify": {"connected": False, "shop_domain": None, "storefront_token": False},
}


def problem(response: Any, status: int, slug: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == f"https://reelcart.dev/problems/{slug}"
    detail: str = response.json()["detail"]
    return detail


# Stripe Connect ----------------------------------------------------------------------------------


def stripe_state(world: World, brand: BrandAccount) -> str:
    response = world.client.get("/v1/brands/me/providers/stripe/connect", headers=brand.headers)
    assert response.status_code == 200, response.text
    url: str = response.json()["url"]
    return parse_qs(urlsplit(url).query)["state"][0]


def stripe_callback(world: World, **query: str) -> Any:
    return world.client.get(f"/oauth/stripe/callback?{urlencode(query)}")


def test_stripe_connect_binds_the_account_stripe_vouches_for(connecting: World, brand: BrandAccount) -> None:
    # When the brand starts connecting
    started = connecting.client.get("/v1/brands/me/providers/stripe/connect", headers=brand.headers)

    # Then it gets Stripe's authorize page for the platform, returning to our callback
    assert started.status_code == 200, started.text
    url = urlsplit(started.json()["url"])
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{connecting.stripe_server.base_url}/oauth/authorize"
    assert {key: values[0] for key, values in query.items() if key != "state"} == {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "scope": "read_write",
        "redirect_uri": "http://testserver/oauth/stripe/callback",
    }

    # When the account's owner authorizes and Stripe sends their browser back with a code
    connecting.stripe.oauth_codes["ac_owner"] = ACCOUNT
    done = stripe_callback(connecting, code="ac_owner", state=query["state"][0])

    # Then the account Stripe named (not one the request claimed) is the brand's
    assert done.status_code == 200, done.text
    assert done.json()["providers"]["stripe"] == {"connected": True, "account_id": ACCOUNT}
    assert providers(connecting.client, brand)["stripe"] == {"connected": True, "account_id": ACCOUNT}


def test_a_stripe_state_serves_once(connecting: World, brand: BrandAccount) -> None:
    state = stripe_state(connecting, brand)
    connecting.stripe.oauth_codes.update({"ac_1": ACCOUNT, "ac_2": "acct_1SomeoneElse"})
    assert stripe_callback(connecting, code="ac_1", state=state).status_code == 200

    replayed = stripe_callback(connecting, code="ac_2", state=state)

    assert problem(replayed, 400, "invalid-connect-state") == (
        "the state was already used; start connecting again"
    )
    assert providers(connecting.client, brand)["stripe"]["account_id"] == ACCOUNT


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("forge", "detail"),
    [
        (
            lambda state, _b: state[:-2] + ("AA" if not state.endswith("AA") else "BB"),
            "not one this server issued",
        ),
        (lambda state, _b: "x" + state, "not one this server issued"),
        (lambda _state, _b: "", "not one this server issued"),
        (
            lambda _state, brand_id: encode_state(
                "another-servers-secret", _stripe_state_for(brand_id, None)
            ),
            "not one this server issued",
        ),
        (
            lambda _state, brand_id: encode_state(SECRET_KEY, _stripe_state_for(brand_id, time.time() - 601)),
            "the state expired (it lasts 10 minutes); start connecting again",
        ),
        (
            lambda _state, brand_id: encode_state(
                SECRET_KEY, issue_state(CheckoutProviderName.SHOPIFY, brand_id, shop=SHOP)
            ),
            "the state was issued for shopify, not stripe",
        ),
    ],
    ids=["tampered-signature", "tampered-body", "missing", "foreign-key", "expired", "other-provider"],
)
def test_forged_expired_or_foreign_stripe_states_bind_nothing(
    connecting: World, brand: BrandAccount, forge: Any, detail: str
) -> None:
    connecting.stripe.oauth_codes["ac_owner"] = ACCOUNT

    response = stripe_callback(
        connecting, code="ac_owner", state=forge(stripe_state(connecting, brand), brand.brand.id)
    )

    assert detail in problem(response, 400, "invalid-connect-state")
    assert providers(connecting.client, brand) == NOTHING
    assert "ac_owner" in connecting.stripe.oauth_codes  # Stripe was never asked


def _stripe_state_for(brand_id: uuid.UUID, now: float | None) -> ConnectState:
    return issue_state(CheckoutProviderName.STRIPE, brand_id, now=now)


def test_a_refused_or_failed_code_exchange_binds_nothing(connecting: World, brand: BrandAccount) -> None:
    # A code Stripe never issued (or already spent)
    refused = stripe_callback(connecting, code="ac_guessed", state=stripe_state(connecting, brand))
    assert problem(refused, 400, "provider-authorization-refused") == (
        "stripe: the authorization code was refused: Authorization code does not exist: ac_guessed"
    )

    # Stripe failing
    connecting.stripe.oauth_codes["ac_owner"] = ACCOUNT
    connecting.stripe.faults.append(Reply.json(500, {"error": {"type": "api_error", "message": "boom"}}))
    failed = stripe_callback(connecting, code="ac_owner", state=stripe_state(connecting, brand))
    assert failed.status_code == 502
    assert failed.json()["type"] == "https://reelcart.dev/problems/provider-error"

    # The owner declining at Stripe
    declined = stripe_callback(
        connecting,
        error="access_denied",
        error_description="The user denied your request",
        state=stripe_state(connecting, brand),
    )
    assert problem(declined, 400, "provider-authorization-refused") == (
        "Stripe did not connect the account: The user denied your request"
    )
    assert providers(connecting.client, brand) == NOTHING


def test_an_account_another_brand_proved_stays_theirs(
    connecting: World, brand: BrandAccount, other_brand: BrandAccount
) -> None:
    connecting.stripe.oauth_codes.update({"ac_1": ACCOUNT, "ac_2": ACCOUNT})
    assert stripe_callback(connecting, code="ac_1", state=stripe_state(connecting, brand)).status_code == 200

    second = stripe_callback(connecting, code="ac_2", state=stripe_state(connecting, other_brand))

    problem(second, 409, "provider-account-taken")
    assert providers(connecting.client, other_brand) == NOTHING


def test_without_a_connect_client_id_stripe_connect_is_503(world: World, brand: BrandAccount) -> None:
    response = world.client.get("/v1/brands/me/providers/stripe/connect", headers=brand.headers)

    assert "REELCART_STRIPE_CONNECT_CLIENT_ID" in problem(response, 503, "commerce-not-configured")


# Claims are gone -------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_brand_key_cannot_bind_an_account_by_naming_it(connecting: World, brand: BrandAccount) -> None:
    claims = [
        connecting.client.put(
            "/v1/brands/me/providers/stripe", json={"account_id": "acct_someoneElse"}, headers=brand.headers
        ),
        connecting.client.put(
            "/v1/brands/me/providers/shopify",
            json={"shop_domain": SHOP, "access_token": "shpat_anything"},
            headers=brand.headers,
        ),
        connecting.client.put(
            f"/v1/admin/brands/{brand.brand.id}/providers/stripe",
            json={"account_id": "acct_someoneElse"},
            headers=brand.headers,
        ),
    ]

    assert [claim.status_code for claim in claims] == [404, 404, 403]
    assert providers(connecting.client, brand) == NOTHING


# Shopify app install ---------------------------------------------------------------------------


def shopify_state(world: World, brand: BrandAccount, shop: str = SHOP) -> str:
    response = world.client.get(
        "/v1/brands/me/providers/shopify/install", params={"shop": shop}, headers=brand.headers
    )
    assert response.status_code == 200, response.text
    url: str = response.json()["url"]
    return parse_qs(urlsplit(url).query)["state"][0]


def signed_query(secret: str = SHOPIFY_API_SECRET, **params: str) -> str:
    """The callback query as Shopify sends it: its parameters and their hex HMAC."""
    values = {"host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvZHJhbWE", "timestamp": str(int(time.time())), **params}
    values["hmac"] = callback_hmac(list(values.items()), secret)
    return urlencode(values)


def shopify_callback(world: World, query: str) -> Any:
    return world.client.get(f"/oauth/shopify/callback?{query}")


def test_the_shopify_install_binds_the_shop_and_its_offline_token(
    connecting: World, brand: BrandAccount, engine: Engine
) -> None:
    # When the brand starts the install for its shop (in any case)
    started = connecting.client.get(
        "/v1/brands/me/providers/shopify/install",
        params={"shop": " Drama-Merch.myshopify.com "},
        headers=brand.headers,
    )

    # Then it gets the shop's authorize page for the app's scopes, returning to our callback
    assert started.status_code == 200, started.text
    url = urlsplit(started.json()["url"])
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == (
        f"{connecting.shopify_server.base_url}/admin/oauth/authorize"
    )
    assert {key: value for key, value in query.items() if key != "state"} == {
        "client_id": APP_CLIENT_ID,
        "scope": (
            "read_products,read_orders,unauthenticated_read_product_listings,unauthenticated_write_checkouts"
        ),
        "redirect_uri": "http://testserver/oauth/shopify/callback",
    }

    # When the owner approves and Shopify sends them back with a signed query
    connecting.shopify.install_codes["code-owner"] = INSTALLED_TOKEN
    done = shopify_callback(connecting, signed_query(code="code-owner", shop=SHOP, state=query["state"]))

    # Then the shop is the brand's, with the token Shopify issued and a Storefront token made with it,
    # both stored encrypted, never returned
    assert done.status_code == 200, done.text
    assert done.json()["providers"]["shopify"] == {
        "connected": True,
        "shop_domain": SHOP,
        "storefront_token": True,
    }
    assert INSTALLED_TOKEN not in done.text
    assert connecting.shopify.storefront_tokens_created == 1
    with Session(engine) as session:
        stored = session.get(Brand, brand.brand.id)
        assert stored is not None
        assert stored.shopify_access_token_encrypted is not None
        assert stored.shopify_storefront_token_encrypted is not None
        assert INSTALLED_TOKEN not in stored.shopify_access_token_encrypted
        cipher = TokenCipher.from_settings(connecting.commerce)
        assert cipher.decrypt(stored.shopify_access_token_encrypted) == INSTALLED_TOKEN
        assert cipher.decrypt(stored.shopify_storefront_token_encrypted) == STOREFRONT_TOKEN


def test_a_shop_installed_through_oauth_checks_out_through_a_storefront_cart(
    connecting: World, brand: BrandAccount, engine: Engine, settings: ApiSettings
) -> None:
    # Given a shop installed through the flow, selling a hoodie a placement shows
    connecting.shopify.install_codes["code-owner"] = INSTALLED_TOKEN
    query = signed_query(code="code-owner", shop=SHOP, state=shopify_state(connecting, brand))
    assert shopify_callback(connecting, query).status_code == 200
    connecting.shopify.products = [product_node(1, "Lead hoodie", [variant_node(11, price="59.90")])]
    hoodie = make_shoppable(engine, settings, brand, shopify_variant_gid=SHOPIFY_VARIANT)

    # When a shopper taps Buy
    response = connecting.client.post(
        "/v1/checkout", json=hoodie.checkout_body(click_id="click-oauth-1", provider="shopify")
    )

    # Then Shopify made a cart (the Storefront token the install created), not a permalink
    assert response.status_code == 201, response.text
    (cart,) = connecting.shopify.carts
    assert response.json()["url"] == cart["cart"]["checkoutUrl"]


@pytest.mark.parametrize(
    ("granted", "errors"),
    [
        ("read_products,read_orders", []),
        (
            "read_products,read_orders,unauthenticated_write_checkouts",
            [{"field": ["input"], "message": "Access denied for storefrontAccessTokenCreate"}],
        ),
    ],
    ids=["scope-not-granted", "token-refused"],
)
def test_an_install_without_a_storefront_token_still_connects_the_shop(
    connecting: World, brand: BrandAccount, granted: str, errors: list[Any]
) -> None:
    # Given the owner granted less, or Shopify refused the Storefront token
    connecting.shopify.granted_scope = granted
    connecting.shopify.storefront_token_errors = errors
    connecting.shopify.install_codes["code-owner"] = INSTALLED_TOKEN

    done = shopify_callback(
        connecting, signed_query(code="code-owner", shop=SHOP, state=shopify_state(connecting, brand))
    )

    # Then the shop is connected without one (checkout uses a cart permalink)
    assert done.status_code == 200, done.text
    assert done.json()["providers"]["shopify"] == {
        "connected": True,
        "shop_domain": SHOP,
        "storefront_token": False,
    }
    assert connecting.shopify.storefront_tokens_created == 0


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("make_query", "status", "slug", "detail"),
    [
        (
            lambda state, _b: signed_query(
                secret="shpss_not_the_app", code="code-owner", shop=SHOP, state=state
            ),
            400,
            "invalid-callback-signature",
            "the callback's hmac does not match its query",
        ),
        (
            lambda state, _b: signed_query(code="code-owner", shop=SHOP, state=state).replace(
                "code=code-owner", "code=code-other"
            ),
            400,
            "invalid-callback-signature",
            "the callback's hmac does not match its query",
        ),
        (
            lambda state, _b: urlencode({"code": "code-owner", "shop": SHOP, "state": state}),
            400,
            "invalid-callback-signature",
            "the callback carries no hmac",
        ),
        (
            lambda state, _b: signed_query(code="code-owner", shop="evil.example.com", state=state),
            400,
            "provider-authorization-refused",
            "the callback's shop 'evil.example.com' is not a shop domain (name.myshopify.com)",
        ),
        (
            lambda state, _b: signed_query(code="code-owner", shop="other-shop.myshopify.com", state=state),
            400,
            "invalid-connect-state",
            "the state was issued for another shop; start connecting again",
        ),
        (
            lambda state, _b: signed_query(code="code-owner", shop=SHOP, state=state + "x"),
            400,
            "invalid-connect-state",
            "the state is not one this server issued; start connecting again",
        ),
        (
            lambda _state, brand_id: signed_query(
                code="code-owner",
                shop=SHOP,
                state=encode_state(
                    SECRET_KEY,
                    issue_state(CheckoutProviderName.SHOPIFY, brand_id, shop=SHOP, now=time.time() - 601),
                ),
            ),
            400,
            "invalid-connect-state",
            "the state expired (it lasts 10 minutes); start connecting again",
        ),
    ],
    ids=["wrong-secret", "altered-code", "no-hmac", "bad-shop", "other-shop", "forged-state", "expired"],
)
def test_forged_shopify_callbacks_bind_nothing(
    connecting: World, brand: BrandAccount, make_query: Any, status: int, slug: str, detail: str
) -> None:
    connecting.shopify.install_codes.update({"code-owner": INSTALLED_TOKEN, "code-other": INSTALLED_TOKEN})

    response = shopify_callback(connecting, make_query(shopify_state(connecting, brand), brand.brand.id))

    assert problem(response, status, slug) == detail
    assert providers(connecting.client, brand) == NOTHING
    assert "code-owner" in connecting.shopify.install_codes  # Shopify was never asked


def test_a_shopify_state_serves_once_and_a_refused_exchange_binds_nothing(
    connecting: World, brand: BrandAccount
) -> None:
    # A code Shopify does not know
    refused = shopify_callback(
        connecting, signed_query(code="code-guessed", shop=SHOP, state=shopify_state(connecting, brand))
    )
    assert problem(refused, 400, "provider-authorization-refused") == (
        "the shop refused the authorization code (HTTP 400)"
    )
    # The shop failing
    connecting.shopify.install_codes["code-owner"] = INSTALLED_TOKEN
    connecting.shopify.faults.append(Reply.json(503, {"errors": "unavailable"}))
    failed = shopify_callback(
        connecting, signed_query(code="code-owner", shop=SHOP, state=shopify_state(connecting, brand))
    )
    assert failed.status_code == 502
    assert failed.json()["retryable"] is True
    assert providers(connecting.client, brand) == NOTHING

    # A good install, then its state again
    state = shopify_state(connecting, brand)
    assert (
        shopify_callback(connecting, signed_query(code="code-owner", shop=SHOP, state=state)).status_code
        == 200
    )
    connecting.shopify.install_codes["code-again"] = "shpat_second"
    again = shopify_callback(connecting, signed_query(code="code-again", shop=SHOP, state=state))
    assert (
        problem(again, 400, "invalid-connect-state") == "the state was already used; start connecting again"
    )


def test_a_shop_another_brand_installed_into_stays_theirs(
    connecting: World, brand: BrandAccount, other_brand: BrandAccount
) -> None:
    connecting.shopify.install_codes.update({"code-1": INSTALLED_TOKEN, "code-2": "shpat_squatter"})
    first = signed_query(code="code-1", shop=SHOP, state=shopify_state(connecting, brand))
    assert shopify_callback(connecting, first).status_code == 200

    second = signed_query(code="code-2", shop=SHOP, state=shopify_state(connecting, other_brand))

    problem(shopify_callback(connecting, second), 409, "provider-account-taken")
    assert providers(connecting.client, other_brand) == NOTHING


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize("shop", ["evil.example.com", "-x.myshopify.com", "a.myshopify.com.evil.io", ""])
def test_installing_into_something_that_is_not_a_shop_is_422(
    connecting: World, brand: BrandAccount, shop: str
) -> None:
    response = connecting.client.get(
        "/v1/brands/me/providers/shopify/install", params={"shop": shop}, headers=brand.headers
    )

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["shop"]


def test_without_the_app_client_id_the_install_is_503(world: World, brand: BrandAccount) -> None:
    response = world.client.get(
        "/v1/brands/me/providers/shopify/install", params={"shop": SHOP}, headers=brand.headers
    )

    assert "REELCART_SHOPIFY_API_KEY" in problem(response, 503, "commerce-not-configured")


def test_the_operator_binds_accounts_made_before_oauth(
    world: World, brand: BrandAccount, operator_key: str
) -> None:
    operator = {"Authorization": f"Bearer {operator_key}"}
    stripe = world.client.put(
        f"/v1/admin/brands/{brand.brand.id}/providers/stripe", json={"account_id": ACCOUNT}, headers=operator
    )
    shop = world.client.put(
        f"/v1/admin/brands/{brand.brand.id}/providers/shopify",
        json={"shop_domain": SHOP, "access_token": "shpat_migrated_token"},
        headers=operator,
    )

    assert (stripe.status_code, shop.status_code) == (200, 200)
    assert providers(world.client, brand) == {
        "stripe": {"connected": True, "account_id": ACCOUNT},
        "shopify": {"connected": True, "shop_domain": SHOP, "storefront_token": False},
    }
