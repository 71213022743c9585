"""What changes while the provider opens a checkout (PostgreSQL: the checkout holds no transaction through
the provider's call, so other writers go ahead). The rows are read again once the provider answers, and
the tap is refused, or answered as the same tap, as they then stand."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.brands.models import Brand, CheckoutProviderName
from api.catalog.models import Variant
from api.checkout.models import CheckoutSession
from tests.api.commerce_support import Shoppable, World
from tests.api.factories import make_checkout
from tests.commerce.fakes.loopback import Reply
from tests.utils.api import BrandAccount


@contextmanager
def stripe_answering_slowly(world: World, engine: Engine, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A Buy press Stripe answers 2 s late; inside the block Stripe has the request and nothing is
    answered yet. On exit the answer is in the yielded dict as `response`."""
    if engine.dialect.name != "postgresql":
        pytest.skip(
            "a writer during the provider's call needs PostgreSQL; the in-memory SQLite shares one connection"
        )
    world.configure(stripe_timeout_s=10.0)
    world.stripe.faults.append(Reply(200, b"", delay_s=2.0))
    done: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: done.update(response=world.client.post("/v1/checkout", json=body))
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not world.stripe_server.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        assert world.stripe_server.requests, "the checkout should be waiting on Stripe"
        yield done
        assert "response" not in done, "the change should be made while Stripe is asked"
    finally:
        thread.join(30)
    assert "response" in done


def _checkouts(engine: Engine) -> list[CheckoutSession]:
    with Session(engine) as session:
        return list(session.exec(select(CheckoutSession)).all())


def test_a_stripe_account_disconnected_during_the_call_refuses_the_checkout(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    body = hoodie.checkout_body(click_id="click-disconnected")
    with stripe_answering_slowly(world, engine, body) as done, Session(engine) as session:
        stored = session.get_one(Brand, brand.brand.id)
        stored.stripe_account_id = None
        session.add(stored)
        session.commit()

    refused = done["response"]
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/provider-not-connected")
    assert "connection changed while the checkout was being opened" in refused.json()["detail"]
    assert _checkouts(engine) == []


def _recorded_by_another_request(engine: Engine, item: Shoppable, quantity: int) -> None:
    """The same click id's checkout, for `quantity` hoodies, recorded and committed by another request."""
    make_checkout(
        engine,
        item.placement,
        item.variant.id,
        click_id="click-twice",
        amount=str(item.variant.price * quantity),
        provider=CheckoutProviderName.STRIPE,
        quantity=quantity,
        provider_session_id="cs_recorded_first",
    )


def test_the_same_tap_recorded_by_another_request_during_the_call_is_answered_with_that_checkout(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    with stripe_answering_slowly(world, engine, hoodie.checkout_body(click_id="click-twice")) as done:
        _recorded_by_another_request(engine, hoodie, quantity=1)

    replayed = done["response"]
    assert replayed.status_code == 200, replayed.text
    [stored] = _checkouts(engine)
    assert replayed.json()["checkout_session_id"] == str(stored.id)
    assert stored.provider_session_id == "cs_recorded_first"  # left as the first request stored it
    assert stored.amount == Decimal("59.90")


def test_another_tap_under_the_same_click_id_recorded_during_the_call_is_refused(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    with stripe_answering_slowly(world, engine, hoodie.checkout_body(click_id="click-twice")) as done:
        _recorded_by_another_request(engine, hoodie, quantity=2)

    refused = done["response"]
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/click-id-reused")
    [stored] = _checkouts(engine)
    assert (stored.quantity, stored.provider_session_id) == (2, "cs_recorded_first")


def test_a_deletion_while_the_provider_opens_a_checkout_does_not_wait_for_it_and_the_checkout_is_refused(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    with stripe_answering_slowly(world, engine, hoodie.checkout_body(click_id="click-slow")) as done:
        # While Stripe is asked, the checkout holds no database connection and no lock on the variant
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        with Session(engine) as other:
            variant = select(Variant.id).where(Variant.id == hoodie.variant.id)
            assert other.exec(variant.with_for_update(nowait=True)).first() == hoodie.variant.id
            other.rollback()
        # And the brand's deletion of the product meanwhile goes ahead at once
        started = time.monotonic()
        deleted = world.client.delete(f"/v1/products/{hoodie.product.id}", headers=brand.headers)
        assert deleted.status_code == 204, deleted.text
        assert time.monotonic() - started < 1.5

    # Then the checkout, back from Stripe, finds the hotspot taken down and records nothing
    refused = done["response"]
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/placement-not-shoppable")
    assert _checkouts(engine) == []
