"""A brand's connections read back (never a secret), the operator's binding for migrations, and the
default provider. Connecting through the providers' own flows is tests/api/test_provider_connect.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from api.brands.models import Brand
from api.linking.service import brand_thresholds
from commerce.crypto import TokenCipher
from tagger.linking import LinkThresholds
from tests.api.commerce_support import (
    ACCOUNT,
    ADMIN_TOKEN,
    SHOP,
    STOREFRONT_TOKEN,
    World,
    connect_shopify,
    connect_stripe,
)
from tests.utils.api import BrandAccount


def me(client: TestClient, brand: BrandAccount) -> dict[str, Any]:
    response = client.get("/v1/brands/me", headers=brand.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_new_brand_has_nothing_connected(client: TestClient, brand: BrandAccount) -> None:
    assert me(client, brand) == {
        "id": str(brand.brand.id),
        "name": "Acme Drinks",
        "slug": "acme-drinks",
        "auto_approve_threshold": 0.8,
        "link_floor": 0.3,
        "require_print_evidence": True,
        "own_print_auto_approve": 0.5,
        "default_checkout_provider": "stripe",
        "catalog_synced_at": None,
        "providers": {
            "stripe": {"connected": False, "account_id": None},
            "shopify": {"connected": False, "shop_domain": None, "storefront_token": False},
        },
    }


def test_connecting_stripe_stores_the_connect_account(world: World, brand: BrandAccount) -> None:
    # When
    connect_stripe(world.client, brand)

    # Then
    assert me(world.client, brand)["providers"]["stripe"] == {"connected": True, "account_id": ACCOUNT}


def test_shopify_tokens_are_stored_encrypted_and_never_returned(
    world: World, brand: BrandAccount, engine: Engine, operator_key: str
) -> None:
    # When the operator binds the brand's shop (domain in any case), e.g. migrating an older install
    response = world.client.put(
        f"/v1/admin/brands/{brand.brand.id}/providers/shopify",
        json={
            "shop_domain": " Drama-Merch.myshopify.com ",
            "access_token": ADMIN_TOKEN,
            "storefront_token": STOREFRONT_TOKEN,
        },
        headers={"Authorization": f"Bearer {operator_key}"},
    )

    # Then the answer says what is connected and carries neither token
    assert response.status_code == 200, response.text
    assert response.json()["providers"]["shopify"] == {
        "connected": True,
        "shop_domain": SHOP,
        "storefront_token": True,
    }
    assert ADMIN_TOKEN not in response.text
    assert STOREFRONT_TOKEN not in response.text
    # And the database holds ciphertexts that only the configured key opens
    with Session(engine) as session:
        stored = session.get(Brand, brand.brand.id)
        assert stored is not None
        assert stored.shopify_access_token_encrypted is not None
        assert stored.shopify_storefront_token_encrypted is not None
        assert ADMIN_TOKEN not in stored.shopify_access_token_encrypted
        cipher = TokenCipher.from_settings(world.commerce)
        assert cipher.decrypt(stored.shopify_access_token_encrypted) == ADMIN_TOKEN
        assert cipher.decrypt(stored.shopify_storefront_token_encrypted) == STOREFRONT_TOKEN


def test_reconnecting_shopify_without_a_storefront_token_removes_the_stored_one(
    world: World, brand: BrandAccount
) -> None:
    connect_shopify(world.client, brand)
    connect_shopify(world.client, brand, storefront_token=None)
    assert me(world.client, brand)["providers"]["shopify"]["storefront_token"] is False


# Validation and plain lookups behave alike on both databases; SQLite alone keeps the suite fast.
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("stripe", {"account_id": "sk_live_oops"}, "account_id"),
        ("stripe", {"account_id": ACCOUNT, "secret_key": "sk_test_x"}, "secret_key"),
        ("shopify", {"shop_domain": "evil.example.com", "access_token": ADMIN_TOKEN}, "shop_domain"),
        ("shopify", {"shop_domain": SHOP, "access_token": "short"}, "access_token"),
        ("shopify", {"shop_domain": SHOP}, "access_token"),
    ],
)
def test_bad_connection_bodies_are_422_with_the_field(
    world: World, brand: BrandAccount, operator_key: str, path: str, body: dict[str, str], field: str
) -> None:
    response = world.client.put(
        f"/v1/admin/brands/{brand.brand.id}/providers/{path}",
        json=body,
        headers={"Authorization": f"Bearer {operator_key}"},
    )
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert me(world.client, brand)["providers"][path]["connected"] is False


def test_one_shop_or_account_cannot_serve_two_brands(
    world: World, brand: BrandAccount, other_brand: BrandAccount, operator_key: str
) -> None:
    # Given the shop and the account belong to the first brand
    connect_shopify(world.client, brand)
    connect_stripe(world.client, brand)

    # When they are bound to another brand too
    operator = {"Authorization": f"Bearer {operator_key}"}
    shop = world.client.put(
        f"/v1/admin/brands/{other_brand.brand.id}/providers/shopify",
        json={"shop_domain": SHOP, "access_token": ADMIN_TOKEN},
        headers=operator,
    )
    account = world.client.put(
        f"/v1/admin/brands/{other_brand.brand.id}/providers/stripe",
        json={"account_id": ACCOUNT},
        headers=operator,
    )

    # Then both are refused: webhooks find the brand by shop and account
    assert (shop.status_code, account.status_code) == (409, 409)
    assert shop.json()["type"].endswith("/provider-account-taken")


def test_the_default_provider_must_be_connected_first(world: World, brand: BrandAccount) -> None:
    # When the brand picks Shopify before connecting it
    refused = world.client.patch(
        "/v1/brands/me", json={"default_checkout_provider": "shopify"}, headers=brand.headers
    )

    # Then it is told to connect it first
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "connect shopify first (GET /v1/brands/me/providers/shopify/install?shop=…)"
    )

    # When it connects and picks again, with a new threshold
    connect_shopify(world.client, brand)
    accepted = world.client.patch(
        "/v1/brands/me",
        json={"default_checkout_provider": "shopify", "auto_approve_threshold": 0.75},
        headers=brand.headers,
    )

    # Then both settings stick
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["default_checkout_provider"], accepted.json()["auto_approve_threshold"]) == (
        "shopify",
        0.75,
    )


# Validation and plain lookups behave alike on both databases; SQLite alone keeps the suite fast.
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "body",
    [
        {"default_checkout_provider": "paypal"},
        {"auto_approve_threshold": 1.5},
        {"auto_approve_threshold": None},
        {"link_floor": -0.1},
        {"link_floor": 0.9},  # above the stored 0.8 threshold
        {"auto_approve_threshold": 0.2},  # below the stored 0.3 floor
        {"auto_approve_threshold": 0.5, "link_floor": 0.6},
        {"require_print_evidence": None},
        {"require_print_evidence": "sometimes"},
        {"own_print_auto_approve": 1.01},
        {"own_print_auto_approve": None},
        {"own_print_auto_approve": "0.5"},
        {"auto_approve_threshold": True},
        {"link_floor": "0.2"},
        {"name": "Renamed"},
    ],
)
def test_bad_brand_updates_are_422(client: TestClient, brand: BrandAccount, body: dict[str, Any]) -> None:
    response = client.patch("/v1/brands/me", json=body, headers=brand.headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_the_brand_update_schema_says_what_the_route_accepts(client: TestClient) -> None:
    # null is refused (no setting can be cleared), so the published schema must not offer it.
    schema = client.get("/openapi.json").json()["components"]["schemas"]["BrandUpdate"]
    for name, field in schema["properties"].items():
        assert "anyOf" not in field, name
    assert schema["properties"]["link_floor"] | {"description": ""} == {
        "type": "number",
        "minimum": 0.0,
        "maximum": 1.0,
        "title": "Link Floor",
        "description": "",
    }


def test_linking_settings_are_the_brands_own_and_reach_its_linker(
    client: TestClient, engine: Engine, brand: BrandAccount
) -> None:
    changed = client.patch(
        "/v1/brands/me",
        json={
            "auto_approve_threshold": 0.9,
            "link_floor": 0.4,
            "require_print_evidence": False,
            "own_print_auto_approve": 0.6,
        },
        headers=brand.headers,
    )

    assert changed.status_code == 200, changed.text
    body = changed.json()
    settings = ("auto_approve_threshold", "link_floor", "require_print_evidence", "own_print_auto_approve")
    assert tuple(body[name] for name in settings) == (0.9, 0.4, False, 0.6)
    refused = client.patch("/v1/brands/me", json={"link_floor": 0.95}, headers=brand.headers)
    assert refused.json()["detail"] == "link_floor (0.95) must not exceed auto_approve_threshold (0.9)"
    assert refused.json()["errors"] == [
        {"field": "link_floor", "message": "link_floor must not exceed auto_approve_threshold"}
    ]
    with Session(engine) as session:
        stored = session.get(Brand, brand.brand.id)
        assert stored is not None
        assert brand_thresholds(stored) == LinkThresholds(
            auto_approve=0.9, floor=0.4, require_print_evidence=False, own_print_approve=0.6
        )


def test_brand_routes_need_a_brand_key(client: TestClient, operator_key: str) -> None:
    assert client.get("/v1/brands/me").status_code == 401
    assert client.get("/v1/brands/me", headers={"Authorization": f"Bearer {operator_key}"}).status_code == 403


def test_without_commerce_settings_only_the_routes_that_need_them_answer_503(
    tmp_path: Path, client: TestClient, brand: BrandAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an API in the test environment with no Stripe or Shopify secrets configured (nor a .env)
    monkeypatch.chdir(tmp_path)
    for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "SHOPIFY_API_SECRET", "TOKEN_ENCRYPTION_KEY"):
        monkeypatch.delenv(f"REELCART_{name}", raising=False)

    # When the brand starts installing the Shopify app (the flow needs the app's credentials)
    response = client.get(
        "/v1/brands/me/providers/shopify/install", params={"shop": SHOP}, headers=brand.headers
    )

    # Then that answers 503 with the reason, and the rest of the API still works
    assert response.status_code == 503
    assert response.json()["detail"].startswith("checkout is not configured: invalid commerce settings")
    assert me(client, brand)["providers"]["shopify"]["connected"] is False
    assert client.get("/healthz").status_code == 200
