"""Deleting a product or variant that was sold, or that a reviewer or a shopper is using at that moment.

A checkout refers to its variant for good (orders hang off it), so what was sold through ReelCart is
refused with a 409 that says how to stop selling it instead, and nothing changes. Concurrent writers
(PostgreSQL only) are serialised on the product's and the variant's rows: whoever comes second sees what
the first did, and gets a clear answer instead of a foreign-key failure.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.auth import Principal
from api.brands.models import ApiKeyScope, CheckoutProviderName
from api.catalog.models import Product, Variant
from api.catalog.service import delete_product
from api.checkout.models import CheckoutSession, CheckoutStatus
from api.review.models import PRODUCT_DELETED, Placement, ReviewAction
from api.review.service import approve
from api.settings import ApiSettings
from tests.api.commerce_support import Shoppable, World
from tests.api.concurrency import skip_unless_postgres
from tests.api.factories import make_episode, make_placement, make_product
from tests.utils.api import BrandAccount


def _checkout(world: World, item: Shoppable, click_id: str = "click-sold-1") -> None:
    started = world.client.post("/v1/checkout", json=item.checkout_body(click_id=click_id))
    assert started.status_code == 201, started.text


def _timeline_products(world: World, item: Shoppable) -> list[str]:
    timeline = world.client.get(f"/v1/episodes/{item.episode.id}/timeline").json()
    return [entry["product"]["id"] for entry in timeline["placements"]]


def test_a_product_sold_through_reelcart_is_not_deleted_and_the_answer_says_what_to_do(
    world: World, hoodie: Shoppable, brand: BrandAccount, engine: Engine
) -> None:
    # Given a shopper who started two checkouts for the hoodie
    _checkout(world, hoodie, "click-sold-1")
    _checkout(world, hoodie, "click-sold-2")
    shown = _timeline_products(world, hoodie)

    # When the brand deletes the product, or its one variant
    product = world.client.delete(f"/v1/products/{hoodie.product.id}", headers=brand.headers)
    variant = world.client.delete(f"/v1/variants/{hoodie.variant.id}", headers=brand.headers)

    # Then both are refused with a conflict that names the checkouts and the way to stop selling it
    for refused, what in ((product, "this product"), (variant, "this variant")):
        assert refused.status_code == 409, refused.text
        body = refused.json()
        assert body["type"].endswith("/already-sold")
        assert body["detail"].startswith(
            f"{what} was sold through ReelCart (2 checkouts were started for it)"
        )
        assert '{"available": false}' in body["detail"]
    # And nothing changed: the product, its variant, its placement and the live hotspot all stay
    assert world.client.get(f"/v1/products/{hoodie.product.id}", headers=brand.headers).status_code == 200
    placement = world.client.get(f"/v1/placements/{hoodie.placement.id}", headers=brand.headers).json()
    assert (placement["status"], placement["chosen_product_id"]) == ("approved", str(hoodie.product.id))
    assert _timeline_products(world, hoodie) == shown
    with Session(engine) as session:
        assert session.exec(select(ReviewAction).where(ReviewAction.action == PRODUCT_DELETED)).all() == []

    # And the way it names works: the variant marked unavailable shows the hotspot sold out
    marked = world.client.patch(
        f"/v1/variants/{hoodie.variant.id}", json={"available": False}, headers=brand.headers
    )
    assert marked.status_code == 200, marked.text
    timeline = world.client.get(f"/v1/episodes/{hoodie.episode.id}/timeline").json()
    (entry,) = timeline["placements"]
    assert [variant["available"] for variant in entry["product"]["variants"]] == [False]


def test_a_variant_nobody_bought_is_deleted_beside_a_sold_one(
    world: World, hoodie: Shoppable, brand: BrandAccount
) -> None:
    _checkout(world, hoodie)
    added = world.client.post(
        f"/v1/products/{hoodie.product.id}/variants",
        json={"sku": "HOODIE-XL", "price": "59.90", "currency": "EUR"},
        headers=brand.headers,
    )
    assert added.status_code == 201, added.text
    deleted = world.client.delete(f"/v1/variants/{added.json()['id']}", headers=brand.headers)
    assert deleted.status_code == 204, deleted.text
    product = world.client.get(f"/v1/products/{hoodie.product.id}", headers=brand.headers).json()
    assert [variant["sku"] for variant in product["variants"]] == ["HOODIE-M"]


# Concurrent writers ------------------------------------------------------------------------------


def _in_background(request: Callable[[], httpx.Response]) -> tuple[threading.Thread, dict[str, Any]]:
    """Send a request on another thread; `done` holds its response once it has one."""
    done: dict[str, Any] = {}

    def send() -> None:
        done["response"] = request()

    thread = threading.Thread(target=send)
    thread.start()
    return thread, done


def _waits_then_answers(thread: threading.Thread, done: dict[str, Any], commit: Callable[[], None]) -> Any:
    thread.join(1.0)
    assert "response" not in done, "the second writer should wait for the first one's row lock"
    commit()
    thread.join(30)
    assert not thread.is_alive()
    return done["response"]


def _answer_while_approving(
    engine: Engine,
    settings: ApiSettings,
    brand: BrandAccount,
    placement: Placement,
    product: Product,
    request: Callable[[], httpx.Response],
) -> Any:
    """`request`'s answer, sent while a reviewer's approval of `placement` as `product` is flushed but
    not committed: it must wait for the approval, which then commits."""
    with Session(engine) as reviewer:
        approving = reviewer.get(Placement, placement.id)
        assert approving is not None
        approve(reviewer, approving, _reviewer(brand), settings, product_id=product.id)
        reviewer.flush()
        thread, done = _in_background(request)
        return _waits_then_answers(thread, done, reviewer.commit)


def _awaiting_review(engine: Engine, settings: ApiSettings, brand: BrandAccount) -> tuple[Product, Placement]:
    """A placement awaiting review with the product among its candidates, not chosen yet."""
    product, _ = make_product(engine, brand.brand.id, "Lead hoodie", sku="HOODIE-M")
    episode = make_episode(engine, brand.brand.id, settings)
    return product, make_placement(engine, episode, candidates=[product])


def _reviewer(brand: BrandAccount) -> Principal:
    return Principal(
        key_id=uuid.uuid4(), key_name="reviewer", scope=ApiKeyScope.BRAND, brand_id=brand.brand.id
    )


def test_a_deletion_after_a_reviewers_uncommitted_approval_waits_and_takes_the_hotspot_down(
    world: World, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    skip_unless_postgres(engine)
    product, chosen_later = _awaiting_review(engine, settings, brand)
    # Given a reviewer approving the placement as the product, not committed yet, when the brand deletes
    # the product meanwhile
    deleted = _answer_while_approving(
        engine,
        settings,
        brand,
        chosen_later,
        product,
        lambda: world.client.delete(f"/v1/products/{product.id}", headers=brand.headers),
    )
    # Then the deletion waited for the approval, and then took the approved placement off the product
    assert deleted.status_code == 204, deleted.text
    history = world.client.get(f"/v1/placements/{chosen_later.id}/history", headers=brand.headers).json()
    assert [(entry["action"], entry["after"]["status"]) for entry in history] == [
        ("approve", "approved"),
        (PRODUCT_DELETED, "proposed"),
    ]
    timeline = world.client.get(f"/v1/episodes/{chosen_later.episode_id}/timeline").json()
    assert timeline["placements"] == []


def test_an_approval_after_an_uncommitted_deletion_waits_and_is_refused_as_a_product_not_in_the_catalog(
    world: World, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    skip_unless_postgres(engine)
    product, chosen_later = _awaiting_review(engine, settings, brand)
    loaded = world.client.get(f"/v1/placements/{chosen_later.id}", headers=brand.headers)
    with Session(engine) as deleting:
        # Given the product's deletion, not committed yet
        stored = deleting.get(Product, product.id)
        assert stored is not None
        delete_product(deleting, stored, "someone@brand.test")
        deleting.flush()
        # When a reviewer approves the placement as that product meanwhile
        thread, done = _in_background(
            lambda: world.client.post(
                f"/v1/placements/{chosen_later.id}/approve",
                json={"product_id": str(product.id)},
                headers={**brand.headers, "If-Match": loaded.headers["etag"]},
            )
        )
        # Then the approval waits, and is then told the product is not in the catalog (not a 409 or 500)
        refused = _waits_then_answers(thread, done, deleting.commit)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [{"field": "product_id", "message": "not in this brand's catalog"}]
    placement = world.client.get(f"/v1/placements/{chosen_later.id}", headers=brand.headers).json()
    assert (placement["status"], placement["chosen_product_id"]) == ("proposed", None)


def test_a_deletion_after_an_uncommitted_checkout_waits_and_is_refused_as_sold(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    skip_unless_postgres(engine)
    with Session(engine) as shopper:
        # Given a checkout of the hoodie being recorded, not committed yet
        shopper.add(
            CheckoutSession(
                brand_id=brand.brand.id,
                click_id="click-racing",
                placement_id=hoodie.placement.id,
                episode_id=hoodie.episode.id,
                variant_id=hoodie.variant.id,
                quantity=1,
                provider=CheckoutProviderName.STRIPE,
                status=CheckoutStatus.OPEN,
                amount=hoodie.variant.price,
                currency="EUR",
            )
        )
        shopper.flush()
        # When the brand deletes the product meanwhile
        thread, done = _in_background(
            lambda: world.client.delete(f"/v1/products/{hoodie.product.id}", headers=brand.headers)
        )
        # Then the deletion waits for the checkout, and then refuses to delete what was sold
        refused = _waits_then_answers(thread, done, shopper.commit)
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/already-sold")
    assert world.client.get(f"/v1/products/{hoodie.product.id}", headers=brand.headers).status_code == 200


def test_a_checkout_after_an_uncommitted_deletion_waits_and_finds_the_variant_gone(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    skip_unless_postgres(engine)
    with Session(engine) as deleting:
        # Given the hoodie's deletion, not committed yet
        product = deleting.get(Product, hoodie.product.id)
        assert product is not None
        delete_product(deleting, product, "someone@brand.test")
        deleting.flush()
        # When a shopper taps Buy on the hotspot the player still shows
        thread, done = _in_background(
            lambda: world.client.post("/v1/checkout", json=hoodie.checkout_body(click_id="click-late"))
        )
        # Then the checkout waits, and is then told the variant is gone, before any provider is asked
        gone = _waits_then_answers(thread, done, deleting.commit)
    assert gone.status_code == 404, gone.text
    assert gone.json()["detail"] == "variant not found"
    assert world.stripe_server.requests == []
    with Session(engine) as session:
        assert session.exec(select(CheckoutSession)).all() == []
        assert session.get(Variant, hoodie.variant.id) is None


def test_a_product_with_a_variant_of_another_product_sold_is_deleted(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # A checkout of one product never holds another back
    _checkout(world, hoodie)
    other, _ = make_product(engine, brand.brand.id, "Scarf", sku="SCARF-1")
    assert world.client.delete(f"/v1/products/{other.id}", headers=brand.headers).status_code == 204


def test_a_bulk_approval_during_a_deletion_waits_and_approves_what_is_left(
    world: World, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    skip_unless_postgres(engine)
    # Given confident links to a tea and to a coffee, awaiting review, and the coffee's deletion under way
    tea, _ = make_product(engine, brand.brand.id, "Tea", sku="TEA-1")
    coffee, _ = make_product(engine, brand.brand.id, "Coffee", sku="COFFEE-1")
    episode = make_episode(engine, brand.brand.id, settings)
    of_tea = make_placement(engine, episode, link_confidence=0.97, candidates=[tea])
    of_coffee = make_placement(
        engine, episode, start_ms=5000, end_ms=8000, link_confidence=0.97, candidates=[coffee]
    )
    with Session(engine) as deleting:
        delete_product(deleting, deleting.get_one(Product, coffee.id), "someone@brand.test")
        deleting.flush()
        # When a reviewer approves every confident link at once
        thread, done = _in_background(
            lambda: world.client.post(
                "/v1/review/bulk-approve", json={"min_confidence": 0.9}, headers=brand.headers
            )
        )
        # Then the approval waits for the deletion, and then approves the tea and leaves the coffee's
        # link for review (before, it failed as a whole on the coffee)
        answer = _waits_then_answers(thread, done, deleting.commit)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"approved": 1, "placement_ids": [str(of_tea.id)], "skipped_contradicted": 0}
    left = world.client.get(f"/v1/placements/{of_coffee.id}", headers=brand.headers).json()
    assert (left["status"], left["chosen_product_id"]) == ("proposed", None)


def test_deleting_the_last_variant_after_a_reviewers_uncommitted_approval_waits_and_is_refused(
    world: World, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    skip_unless_postgres(engine)
    product, chosen_later = _awaiting_review(engine, settings, brand)
    with Session(engine) as session:
        (variant,) = session.exec(select(Variant).where(Variant.product_id == product.id)).all()
    # Given a reviewer approving the placement as the product, not committed yet, when the brand deletes
    # the product's only variant meanwhile
    refused = _answer_while_approving(
        engine,
        settings,
        brand,
        chosen_later,
        product,
        lambda: world.client.delete(f"/v1/variants/{variant.id}", headers=brand.headers),
    )
    # Then the deletion waited for the approval and saw it: the hotspot keeps something to buy (it
    # counted no approved hotspot, deleted the variant, and the approval then published nothing)
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/last-variant-shown")
    [shown] = world.client.get(f"/v1/episodes/{chosen_later.episode_id}/timeline").json()["placements"]
    assert [v["sku"] for v in shown["product"]["variants"]] == ["HOODIE-M"]
