"""`POST /v1/checkout` through HTTP, against the commerce library's loopback Stripe and Shopify."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.checkout.models import CheckoutSession, CheckoutStatus
from api.review.models import PlacementStatus
from api.settings import ApiSettings
from commerce.crypto import generate_token_key
from tests.api.commerce_support import (
    ACCOUNT,
    PUBLISHABLE_KEY,
    RETURN_URL,
    SHOP,
    SHOPIFY_VARIANT,
    Shoppable,
    World,
    connect_shopify,
    connect_stripe,
    make_shoppable,
)
from tests.api.concurrency import skip_unless_postgres
from tests.api.factories import make_product
from tests.commerce.fakes.loopback import Reply
from tests.commerce.fakes.stripe_fake import error_reply
from tests.utils.api import BrandAccount


def sessions_in(engine: Engine) -> list[CheckoutSession]:
    with Session(engine) as session:
        return list(session.exec(select(CheckoutSession)).all())


def test_a_stripe_tap_gets_an_embedded_session_priced_from_our_catalog(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # When the overlay starts a checkout for two hoodies
    response = world.client.post("/v1/checkout", json=hoodie.checkout_body(quantity=2))

    # Then it gets exactly the shape the overlay SDK is built against
    assert response.status_code == 201, response.text
    (row,) = sessions_in(engine)
    assert response.json() == {
        "checkout_session_id": str(row.id),
        "provider": "stripe",
        "client_secret": "cs_test_0001_secret_1",
        "publishable_key": PUBLISHABLE_KEY,
        "stripe_account": ACCOUNT,
        "url": None,
    }
    # And one row records the tap with our price
    assert row.model_dump(exclude={"id", "created_at"}) == {
        "brand_id": brand.brand.id,
        "click_id": "click-0001",
        "placement_id": hoodie.placement.id,
        "episode_id": hoodie.episode.id,
        "variant_id": hoodie.variant.id,
        "quantity": 2,
        "provider": "stripe",
        "provider_session_id": "cs_test_0001",
        "status": "open",
        "amount": Decimal("119.800"),
        "currency": "EUR",
    }
    # And Stripe was asked, on the brand's account, for our price and the attribution ids
    (sent,) = world.stripe_server.requests
    form = dict(parse_qsl(sent.body.decode()))
    assert sent.headers["stripe-account"] == ACCOUNT
    assert {key: form[key] for key in form if not key.startswith("payment_intent_data")} == {
        "mode": "payment",
        "ui_mode": "embedded_page",
        "line_items[0][quantity]": "2",
        "line_items[0][price_data][currency]": "eur",
        "line_items[0][price_data][unit_amount]": "5990",
        "line_items[0][price_data][product_data][name]": "Lead hoodie",
        "line_items[0][metadata][reelcart_variant_ref]": f"reelcart-variant-{hoodie.variant.id}",
        "client_reference_id": "click-0001",
        "metadata[reelcart_click_id]": "click-0001",
        "metadata[reelcart_placement_id]": str(hoodie.placement.id),
        "metadata[reelcart_episode_id]": str(hoodie.episode.id),
        "return_url": RETURN_URL,
    }


def test_the_client_cannot_send_a_price(world: World, hoodie: Shoppable) -> None:
    response = world.client.post("/v1/checkout", json=hoodie.checkout_body(price="0.01"))
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "price", "message": "Extra inputs are not permitted"}]
    assert world.stripe_server.requests == []


def test_without_a_publishable_key_stripe_opens_its_hosted_page(world: World, hoodie: Shoppable) -> None:
    # Given the operator configured no Stripe.js key, so the overlay cannot mount embedded checkout
    world.configure_api(stripe_publishable_key=None)

    # When
    response = world.client.post("/v1/checkout", json=hoodie.checkout_body())

    # Then one hosted session, returned as a URL
    assert response.status_code == 201, response.text
    assert {
        key: response.json()[key] for key in ("client_secret", "publishable_key", "stripe_account", "url")
    } == {
        "client_secret": None,
        "publishable_key": None,
        "stripe_account": None,
        "url": "https://checkout.stripe.com/c/pay/cs_test_0001",
    }
    assert dict(parse_qsl(world.stripe_server.requests[0].body.decode()))["ui_mode"] == "hosted_page"


def test_by_default_stripe_returns_the_shopper_to_a_page_this_api_serves(
    world: World, hoodie: Shoppable
) -> None:
    # Given no return URL configured
    world.configure_api(checkout_return_url=None)

    # When
    world.client.post("/v1/checkout", json=hoodie.checkout_body())

    # Then Stripe was given the API's own return page, which answers
    form = dict(parse_qsl(world.stripe_server.requests[0].body.decode()))
    assert form["return_url"] == "http://testserver/checkout/return?session_id={CHECKOUT_SESSION_ID}"
    page = world.client.get("/checkout/return", params={"session_id": "cs_test_0001"})
    assert (page.status_code, page.headers["cache-control"]) == (200, "no-store")
    assert "Your payment is being confirmed" in page.text


def test_the_same_click_twice_is_one_checkout_and_one_stripe_session(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    # Given a first tap
    first = world.client.post("/v1/checkout", json=hoodie.checkout_body())

    # When the same click arrives again (double tap, network retry)
    second = world.client.post("/v1/checkout", json=hoodie.checkout_body())

    # Then the same checkout comes back, backed by the one session Stripe made
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert len(sessions_in(engine)) == 1
    assert list(world.stripe.sessions) == ["cs_test_0001"]
    keys = {request.headers["idempotency-key"] for request in world.stripe_server.requests}
    assert len(keys) == 1


def test_a_reused_click_id_for_another_checkout_is_refused(world: World, hoodie: Shoppable) -> None:
    world.client.post("/v1/checkout", json=hoodie.checkout_body())
    response = world.client.post("/v1/checkout", json=hoodie.checkout_body(quantity=3))
    assert response.status_code == 409
    assert response.json()["type"].endswith("/click-id-reused")
    assert len(world.stripe.sessions) == 1


def test_a_click_whose_checkout_completed_cannot_start_it_again(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    # Given the tap's checkout was paid
    world.client.post("/v1/checkout", json=hoodie.checkout_body())
    with Session(engine) as session:
        (row,) = session.exec(select(CheckoutSession)).all()
        row.status = CheckoutStatus.COMPLETED
        session.add(row)
        session.commit()

    # When the same click comes back
    response = world.client.post("/v1/checkout", json=hoodie.checkout_body())

    # Then it is told to tap again; Stripe was not asked a second time
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "the checkout for this click_id is completed; a new tap needs a new click_id"
    )
    assert len(world.stripe_server.requests) == 1


def test_without_a_click_id_every_request_is_its_own_tap(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    body = hoodie.checkout_body()
    del body["click_id"]
    first = world.client.post("/v1/checkout", json=body)
    second = world.client.post("/v1/checkout", json=body)
    assert (first.status_code, second.status_code) == (201, 201)
    assert len({row.click_id for row in sessions_in(engine)}) == 2


def test_concurrent_double_taps_make_one_row_and_one_session(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    skip_unless_postgres(engine)

    # When eight copies of one tap arrive at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(
            pool.map(lambda _: world.client.post("/v1/checkout", json=hoodie.checkout_body()), range(8))
        )

    # Then every one got the same checkout, recorded once, with one Stripe session
    assert {response.status_code for response in responses} <= {200, 201}
    assert len({response.json()["checkout_session_id"] for response in responses}) == 1
    assert len(sessions_in(engine)) == 1
    assert list(world.stripe.sessions) == ["cs_test_0001"]


def test_a_shopify_tap_gets_a_storefront_cart_with_the_attribution(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    # When the overlay asks for Shopify
    response = world.client.post("/v1/checkout", json=hoodie.checkout_body(provider="shopify"))

    # Then the cart's checkout URL comes back and the cart carries our ids as attributes
    assert response.status_code == 201, response.text
    (row,) = sessions_in(engine)
    assert response.json() == {
        "checkout_session_id": str(row.id),
        "provider": "shopify",
        "client_secret": None,
        "publishable_key": None,
        "stripe_account": None,
        "url": f"https://{SHOP}/cart/c/c1-0001?key=k1",
    }
    (cart,) = world.shopify.carts
    assert cart["input"] == {
        "lines": [{"merchandiseId": SHOPIFY_VARIANT, "quantity": 1}],
        "attributes": [
            {"key": "reelcart_click_id", "value": "click-0001"},
            {"key": "reelcart_placement_id", "value": str(hoodie.placement.id)},
            {"key": "reelcart_episode_id", "value": str(hoodie.episode.id)},
        ],
    }
    assert (row.provider, row.provider_session_id) == ("shopify", "gid://shopify/Cart/c1-0001")


def test_without_a_storefront_token_shopify_checkout_is_a_cart_permalink(
    world: World, hoodie: Shoppable, brand: BrandAccount
) -> None:
    # Given neither the brand nor the settings hold a Storefront token
    connect_shopify(world.client, brand, storefront_token=None)
    world.configure(shopify_storefront_token=None)

    # When
    response = world.client.post("/v1/checkout", json=hoodie.checkout_body(provider="shopify"))

    # Then the shopper goes to a permalink that carries the same attributes; nothing was called
    assert response.status_code == 201, response.text
    assert response.json()["url"] == (
        f"{world.shopify_server.base_url}/cart/11:1?attributes%5Breelcart_click_id%5D=click-0001"
        f"&attributes%5Breelcart_placement_id%5D={hoodie.placement.id}"
        f"&attributes%5Breelcart_episode_id%5D={hoodie.episode.id}&ref=reelcart"
    )
    assert world.shopify_server.requests == []


BadBody = dict[str, Any]


def _bad_inputs() -> list[Any]:
    return [
        pytest.param(lambda s, o: s.checkout_body(quantity=0), 422, "validation-error", id="quantity-0"),
        pytest.param(
            lambda s, o: s.checkout_body(quantity=10**9), 422, "validation-error", id="quantity-1e9"
        ),
        pytest.param(lambda s, o: s.checkout_body(quantity=11), 422, "validation-error", id="quantity-11"),
        pytest.param(
            lambda s, o: s.checkout_body(provider="paypal"), 422, "validation-error", id="unknown-provider"
        ),
        pytest.param(
            lambda s, o: s.checkout_body(click_id="a b"), 422, "validation-error", id="bad-click-id"
        ),
        pytest.param(
            lambda s, o: s.checkout_body(placement_id=str(uuid.uuid4())),
            404,
            "not-found",
            id="unknown-placement",
        ),
        pytest.param(
            lambda s, o: s.checkout_body(variant_id=str(uuid.uuid4())), 404, "not-found", id="unknown-variant"
        ),
        pytest.param(
            lambda s, o: s.checkout_body(variant_id=str(o["other_brand_variant"])),
            404,
            "not-found",
            id="another-brands-variant",
        ),
        pytest.param(
            lambda s, o: s.checkout_body(variant_id=str(o["other_product_variant"])),
            422,
            "variant-not-in-placement",
            id="variant-the-placement-does-not-show",
        ),
    ]


# Validation and plain lookups behave alike on both databases; SQLite alone keeps the suite fast.
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("make_body", "status", "slug"), _bad_inputs())
def test_bad_checkout_requests_are_refused_before_any_provider_call(
    world: World,
    hoodie: Shoppable,
    engine: Engine,
    brand: BrandAccount,
    other_brand: BrandAccount,
    make_body: Any,
    status: int,
    slug: str,
) -> None:
    # Given a variant of another brand and another product of this brand
    _, other_brand_variant = make_product(engine, other_brand.brand.id, "Rival soda", sku="RIVAL-1")
    _, other_product_variant = make_product(engine, brand.brand.id, "Cap", sku="CAP-1")
    others = {
        "other_brand_variant": other_brand_variant.id,
        "other_product_variant": other_product_variant.id,
    }

    # When
    response = world.client.post("/v1/checkout", json=make_body(hoodie, others))

    # Then a problem document, and nothing was charged or recorded
    assert (response.status_code, response.json()["type"].rsplit("/", 1)[-1]) == (status, slug)
    assert response.headers["content-type"] == "application/problem+json"
    assert world.stripe_server.requests == []
    assert sessions_in(engine) == []


@pytest.mark.parametrize(
    ("placement_status", "available", "slug"),
    [
        (PlacementStatus.PROPOSED, True, "placement-not-shoppable"),
        (PlacementStatus.REJECTED, True, "placement-not-shoppable"),
        (PlacementStatus.APPROVED, False, "variant-unavailable"),
    ],
)
def test_unapproved_placements_and_sold_out_variants_do_not_sell(
    world: World,
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    placement_status: PlacementStatus,
    available: bool,
    slug: str,
) -> None:
    connect_stripe(world.client, brand)
    item = make_shoppable(engine, settings, brand, status=placement_status, available=available)
    response = world.client.post("/v1/checkout", json=item.checkout_body())
    assert (response.status_code, response.json()["type"].rsplit("/", 1)[-1]) == (409, slug)
    assert world.stripe_server.requests == []


def test_a_provider_the_brand_has_not_connected_is_a_clear_409(
    world: World, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    # Given a brand connected to Stripe only
    connect_stripe(world.client, brand)
    item = make_shoppable(engine, settings, brand)

    # When the overlay asks for Shopify
    response = world.client.post("/v1/checkout", json=item.checkout_body(provider="shopify"))

    # Then
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "this brand does not sell through shopify: it has not connected a Shopify shop"
    )
    assert response.json()["errors"] == [{"field": "provider", "message": "shopify is not connected"}]


@pytest.mark.parametrize(
    ("fault", "retryable", "provider_status"),
    [
        (error_reply(500, "api_error", "Something went wrong on Stripe's end."), True, 500),
        (error_reply(402, "card_error", "Your card was declined.", "card_declined"), False, 402),
    ],
)
def test_provider_errors_are_502_problems_that_say_whether_to_retry(
    world: World, hoodie: Shoppable, engine: Engine, fault: Reply, retryable: bool, provider_status: int
) -> None:
    # Given Stripe fails the call
    world.stripe.faults.append(fault)

    # When
    response = world.client.post("/v1/checkout", json=hoodie.checkout_body())

    # Then a 502 problem with the provider's verdict, and no row
    body = response.json()
    assert response.status_code == 502
    assert {key: body[key] for key in ("type", "status", "provider", "retryable", "provider_status")} == {
        "type": "https://reelcart.dev/problems/provider-error",
        "status": 502,
        "provider": "stripe",
        "retryable": retryable,
        "provider_status": provider_status,
    }
    assert sessions_in(engine) == []


def test_a_retry_after_a_timeout_reuses_the_idempotency_key_and_charges_once(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    # Given Stripe creates the session but answers after our timeout
    world.configure(stripe_timeout_s=0.3)
    world.stripe.faults.append(Reply(200, b"", delay_s=1.0))

    # When the first attempt times out
    timed_out = world.client.post("/v1/checkout", json=hoodie.checkout_body())

    # Then the overlay is told it may retry, and nothing was recorded
    assert timed_out.status_code == 502
    assert (timed_out.json()["type"], timed_out.json()["retryable"]) == (
        "https://reelcart.dev/problems/provider-timeout",
        True,
    )
    assert timed_out.headers["retry-after"] == "1"
    assert sessions_in(engine) == []

    # When it retries the same click
    retried = world.client.post("/v1/checkout", json=hoodie.checkout_body())

    # Then it gets the session the timed-out call created: same key, one Stripe session
    assert retried.status_code == 201, retried.text
    assert retried.json()["client_secret"] == "cs_test_0001_secret_1"
    assert list(world.stripe.sessions) == ["cs_test_0001"]
    first_key, second_key = (request.headers["idempotency-key"] for request in world.stripe_server.requests)
    assert first_key == second_key
    assert [row.provider_session_id for row in sessions_in(engine)] == ["cs_test_0001"]


def test_without_commerce_settings_checkout_is_503_and_the_timeline_still_serves(
    tmp_path: Path,
    client: TestClient,
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given no Stripe or Shopify secrets in a non-development environment (and no .env to read them from)
    monkeypatch.chdir(tmp_path)
    for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "SHOPIFY_API_SECRET", "TOKEN_ENCRYPTION_KEY"):
        monkeypatch.delenv(f"REELCART_{name}", raising=False)
    item = make_shoppable(engine, settings, brand)

    # When
    response = client.post("/v1/checkout", json=item.checkout_body())

    # Then
    assert response.status_code == 503
    assert response.json()["detail"].startswith("checkout is not configured: invalid commerce settings")
    assert client.get(f"/v1/episodes/{item.episode.id}/timeline").status_code == 200


def test_a_stored_token_the_current_key_cannot_open_is_a_503_with_what_to_do(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    # Given the token key was replaced without keeping the old one as a previous key
    world.configure(token_encryption_key=SecretStr(generate_token_key()))

    # When a Shopify checkout needs the brand's Storefront token
    response = world.client.post("/v1/checkout", json=hoodie.checkout_body(provider="shopify"))

    # Then the operator learns what happened and how to fix it; nothing was recorded or sent
    assert response.status_code == 503
    assert response.json()["detail"] == (
        "stored access token cannot be decrypted with the configured keys; reinstall the app in the "
        "shop (GET /v1/brands/me/providers/shopify/install?shop=…) or restore the previous key in "
        "REELCART_TOKEN_ENCRYPTION_PREVIOUS_KEYS"
    )
    assert (sessions_in(engine), world.shopify_server.requests) == ([], [])


# Shopper IP behind a proxy ------------------------------------------------------------------------


def storefront_buyer_ip(world: World, item: Shoppable, peer: str, forwarded_for: list[str]) -> str | None:
    """Tap through a client whose TCP peer is `peer`; return the buyer IP Shopify was told."""
    client = TestClient(world.client.app, client=(peer, 50000))
    headers = [("x-forwarded-for", value) for value in forwarded_for]
    body = item.checkout_body(provider="shopify")
    response = client.post("/v1/checkout", json=body, headers=headers)
    assert response.status_code == 201, response.text
    sent = world.shopify_server.requests[-1].headers
    return sent.get("shopify-storefront-buyer-ip")


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded_for", "expected"),
    [
        # No trusted proxies: the header is the client's own claim, so the peer is the shopper.
        ([], "198.51.100.20", ["203.0.113.7"], "198.51.100.20"),
        # A peer outside the list may not speak for anyone either.
        (["10.0.0.0/8"], "198.51.100.20", ["203.0.113.7"], "198.51.100.20"),
        # Through two of our proxies: the right-most untrusted hop, not the client-written left end.
        (["10.0.0.0/8"], "10.0.0.2", ["6.6.6.6, 203.0.113.7, 10.0.0.9"], "203.0.113.7"),
        # Several header lines read as one list, in order.
        (["10.0.0.2", "10.0.0.9"], "10.0.0.2", ["6.6.6.6, 203.0.113.7", "10.0.0.9"], "203.0.113.7"),
        # Garbage ends the believable chain at the nearest trusted hop.
        (["10.0.0.0/8"], "10.0.0.2", ["203.0.113.7, not-an-ip"], "10.0.0.2"),
        # No header from a trusted proxy: the proxy is all we know.
        (["10.0.0.0/8"], "10.0.0.2", [], "10.0.0.2"),
    ],
    ids=["none-trusted", "untrusted-peer", "right-most", "many-headers", "garbage", "no-header"],
)
def test_the_shopper_ip_sent_to_shopify_believes_only_trusted_proxies(
    world: World,
    hoodie: Shoppable,
    trusted: list[str],
    peer: str,
    forwarded_for: list[str],
    expected: str,
) -> None:
    # Given the API configured with these trusted proxies, and a private Storefront token (the
    # server-to-server kind, which is what carries the buyer IP)
    world.configure_api(trusted_proxies=trusted)
    world.configure(shopify_storefront_access="private")

    # When a tap arrives from `peer` with these X-Forwarded-For headers
    buyer_ip = storefront_buyer_ip(world, hoodie, peer, forwarded_for)

    # Then Shopify hears about the expected address
    assert buyer_ip == expected


def test_a_trusted_proxy_entry_that_is_not_an_address_is_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        ApiSettings(trusted_proxies=["10.0.0.0/8", "proxy.internal"])
