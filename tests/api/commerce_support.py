"""Shared setup for the API's commerce tests: the commerce library's loopback Stripe and Shopify fakes
(reused, not copied), settings pointing at them, signed webhook deliveries, and a shoppable placement."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlmodel import Session

from api.auth import issue_api_key
from api.brands.models import ApiKeyScope
from api.catalog.models import Product, Variant
from api.episodes.models import Episode
from api.review.models import Placement, PlacementStatus
from api.settings import ApiSettings
from commerce.settings import CommerceSettings
from tests.api.factories import make_episode, make_placement, make_product
from tests.commerce.fakes.loopback import LoopbackServer
from tests.commerce.fakes.shopify_fake import ADMIN_TOKEN, SHOP, STOREFRONT_TOKEN, FakeShopify
from tests.commerce.fakes.stripe_fake import API_KEY, NOW, FakeStripe
from tests.utils.api import BrandAccount
from tests.utils.commerce import SHOPIFY_API_SECRET, STRIPE_WEBHOOK_SECRET, make_settings

# The Shopify variant the `hoodie` fixture (tests/fixtures/api.py) sells.
SHOPIFY_VARIANT = "gid://shopify/ProductVariant/11"

ACCOUNT = "acct_1BrandDrama"
PUBLISHABLE_KEY = "pk_test_loopback"
RETURN_URL = "https://watch.reelcart.test/return?session={CHECKOUT_SESSION_ID}"

__all__ = [
    "ACCOUNT",
    "ADMIN_TOKEN",
    "API_KEY",
    "NOW",
    "PUBLISHABLE_KEY",
    "RETURN_URL",
    "SHOP",
    "SHOPIFY_API_SECRET",
    "STOREFRONT_TOKEN",
    "STRIPE_WEBHOOK_SECRET",
    "Shoppable",
    "World",
    "connect_shopify",
    "connect_stripe",
    "make_shoppable",
    "running_world",
    "shopify_delivery",
    "stripe_delivery",
    "stripe_event_body",
]


@dataclass
class World:
    """Both fakes running, and the app configured to talk to them."""

    client: TestClient
    stripe: FakeStripe
    stripe_server: LoopbackServer
    shopify: FakeShopify
    shopify_server: LoopbackServer
    commerce: CommerceSettings
    settings: ApiSettings

    def configure(self, **changes: Any) -> None:
        """Change commerce settings (e.g. a shorter timeout) for the app under test. Values are not
        validated again (`model_copy`), so pass them as the fields hold them (`SecretStr` for secrets)."""
        self.commerce = self.commerce.model_copy(update=changes)
        self.client.app.state.commerce_settings = self.commerce  # type: ignore[attr-defined]

    def configure_api(self, **changes: Any) -> None:
        self.settings = self.settings.model_copy(update=changes)
        self.client.app.state.settings = self.settings  # type: ignore[attr-defined]


@contextmanager
def running_world(client: TestClient, settings: ApiSettings) -> Iterator[World]:
    fake_stripe, fake_shopify = FakeStripe(), FakeShopify()
    stripe_server, shopify_server = LoopbackServer(fake_stripe.route), LoopbackServer(fake_shopify.route)
    with stripe_server.running(), shopify_server.running():
        world = World(
            client=client,
            stripe=fake_stripe,
            stripe_server=stripe_server,
            shopify=fake_shopify,
            shopify_server=shopify_server,
            commerce=make_settings(
                stripe_api_base=stripe_server.base_url, shopify_base_url=shopify_server.base_url
            ),
            settings=settings,
        )
        world.configure()
        world.configure_api(stripe_publishable_key=PUBLISHABLE_KEY, checkout_return_url=RETURN_URL)
        yield world


def _operator_headers(client: TestClient) -> dict[str, str]:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        issued = issue_api_key(session, scope=ApiKeyScope.OPERATOR, brand_id=None, name="test binding")
        session.commit()
        return {"Authorization": f"Bearer {issued.secret}"}


def connect_stripe(client: TestClient, brand: BrandAccount, account: str = ACCOUNT) -> None:
    """Bind the account as the operator does for a migration: tests of checkout, sync and webhooks
    need a connected brand, not the OAuth flow (tests/api/test_provider_connect.py proves that)."""
    response = client.put(
        f"/v1/admin/brands/{brand.brand.id}/providers/stripe",
        json={"account_id": account},
        headers=_operator_headers(client),
    )
    assert response.status_code == 200, response.text


def connect_shopify(
    client: TestClient, brand: BrandAccount, *, storefront_token: str | None = STOREFRONT_TOKEN
) -> None:
    body = {"shop_domain": SHOP, "access_token": ADMIN_TOKEN}
    if storefront_token is not None:
        body["storefront_token"] = storefront_token
    response = client.put(
        f"/v1/admin/brands/{brand.brand.id}/providers/shopify", json=body, headers=_operator_headers(client)
    )
    assert response.status_code == 200, response.text


@dataclass(frozen=True)
class Shoppable:
    episode: Episode
    placement: Placement
    product: Product
    variant: Variant

    def checkout_body(self, click_id: str = "click-0001", **changes: Any) -> dict[str, Any]:
        return {
            "placement_id": str(self.placement.id),
            "variant_id": str(self.variant.id),
            "quantity": 1,
            "click_id": click_id,
            **changes,
        }


def make_shoppable(
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    *,
    sku: str = "HOODIE-M",
    price: str = "59.90",
    status: PlacementStatus = PlacementStatus.APPROVED,
    available: bool = True,
    shopify_variant_gid: str | None = None,
    stripe_product_id: str | None = None,
) -> Shoppable:
    """An episode with one placement showing a one-variant product (approved unless told otherwise)."""
    product, variant = make_product(
        engine, brand.brand.id, "Lead hoodie", sku=sku, price=price, available=available
    )
    with Session(engine, expire_on_commit=False) as session:
        stored_product = session.get(Product, product.id)
        stored_variant = session.get(Variant, variant.id)
        assert stored_product is not None
        assert stored_variant is not None
        stored_product.stripe_product_id = stripe_product_id
        stored_variant.shopify_variant_gid = shopify_variant_gid
        session.add(stored_product)
        session.add(stored_variant)
        session.commit()
        product, variant = stored_product, stored_variant
    episode = make_episode(engine, brand.brand.id, settings)
    placement = make_placement(engine, episode, status=status, chosen_product_id=product.id)
    return Shoppable(episode=episode, placement=placement, product=product, variant=variant)


# Webhook deliveries -------------------------------------------------------------------------------


def stripe_event_body(
    session: stripe.checkout.Session | dict[str, Any],
    *,
    event_id: str,
    event_type: str = "checkout.session.completed",
    account: str | None = ACCOUNT,
    livemode: bool = False,
    **session_changes: Any,
) -> bytes:
    """A Stripe event as Stripe would POST it, built with the SDK's own constructors."""
    values = session.to_dict() if isinstance(session, stripe.StripeObject) else dict(session)
    event = stripe.Event.construct_from(
        {
            "id": event_id,
            "object": "event",
            "type": event_type,
            "account": account,
            "api_version": "2026-10-28.endive",
            "created": NOW + 120,
            "livemode": livemode,
            "pending_webhooks": 1,
            "data": {"object": values | session_changes},
        },
        API_KEY,
    )
    return json.dumps(event.to_dict()).encode()


def stripe_delivery(
    client: TestClient,
    body: bytes,
    *,
    secret: str = STRIPE_WEBHOOK_SECRET,
    timestamp: int | None = None,
    header: str | None = None,
) -> Response:
    """POST a body signed with the stripe SDK's own helper (now, unless a timestamp is given)."""
    signature = header or stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=timestamp if timestamp is not None else int(time.time())
    )
    response: Response = client.post(
        "/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )
    return response


def shopify_delivery(
    client: TestClient,
    body: bytes | dict[str, Any],
    *,
    topic: str,
    event_id: str | None = None,
    secret: str = SHOPIFY_API_SECRET,
    shop: str = SHOP,
    signature: str | None = None,
    triggered_at: str | None = None,
) -> Response:
    """POST a body signed the way Shopify signs: base64 HMAC-SHA256 of the raw bytes (computed here,
    independently of the code under test), triggered now unless `triggered_at` says otherwise (an empty
    string leaves the X-Shopify-Triggered-At header out)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    digest = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": signature or digest,
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Event-Id": event_id or f"evt-{uuid.uuid4()}",
        "X-Shopify-Webhook-Id": f"whk-{uuid.uuid4()}",
    }
    if triggered_at != "":
        headers["X-Shopify-Triggered-At"] = triggered_at or datetime.now(UTC).isoformat()
    response: Response = client.post("/webhooks/shopify", content=raw, headers=headers)
    return response
