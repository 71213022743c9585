"""Refunds through signed webhooks: Stripe's `charge.refunded` and Shopify's `refunds/create` take what
was given back out of revenue, count once whatever order or how often they arrive, and never touch an
order that is not the brand's."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.checkout.models import Order
from api.columns import utcnow
from api.webhooks.held_refunds import HOLD_FOR
from api.webhooks.models import HeldRefund
from tests.api.commerce_support import ACCOUNT, SHOP, Shoppable, World, shopify_delivery, stripe_delivery
from tests.api.concurrency import skip_unless_postgres
from tests.commerce.fakes.loopback import Reply
from tests.commerce.fakes.stripe_fake import NOW, error_reply
from tests.utils.api import BrandAccount
from tests.utils.webhooks import paid_body, receipt, rows, tap

ORDER_90 = "gid://shopify/Order/90"


def analytics(world: World, item: Shoppable, brand: BrandAccount) -> dict[str, Any]:
    report = world.client.get(f"/v1/analytics/episodes/{item.episode.id}", headers=brand.headers).json()
    (placement,) = report["placements"]
    keys = ("orders_paid", "revenue", "refunded")
    # The episode's totals are its placements' here (one placement): both must say the same.
    assert {key: report[key] for key in keys} == {key: placement[key] for key in keys}
    return {key: placement[key] for key in keys}


def stripe_paid(world: World, item: Shoppable, engine: Engine) -> Order:
    """A tap for two hoodies (119.80 EUR) paid through Stripe; the stored order."""
    tap(world, item, quantity=2)
    receipt(stripe_delivery(world.client, paid_body(world)))
    (order,) = rows(engine, Order)
    assert isinstance(order, Order)
    return order


def refund(world: World, event_id: str, minor_units: int, **changes: Any) -> dict[str, Any]:
    body = world.stripe.refunded_event(
        "cs_test_0001", event_id, changes.pop("account", ACCOUNT), refunded=minor_units, **changes
    )
    return receipt(stripe_delivery(world.client, body))


def stored(engine: Engine, order: Order) -> Order:
    with Session(engine) as session:
        row = session.get(Order, order.id)
        assert row is not None
        return row


# Stripe ------------------------------------------------------------------------------------------


def test_a_partial_then_a_full_stripe_refund_leave_revenue_with_what_was_kept(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given a paid Stripe order of 119.80 EUR
    order = stripe_paid(world, hoodie, engine)
    assert analytics(world, hoodie, brand) == {"orders_paid": 1, "revenue": {"EUR": "119.80"}, "refunded": {}}

    # When the brand refunds one hoodie (59.90), Stripe reports the charge with 5990 refunded
    first = refund(world, "evt_refund_1", 5990)

    # Then the order stays paid, and revenue is what was kept
    assert first["outcome"] == f"order {order.id} is paid, 59.90 EUR of 119.80 EUR refunded"
    assert (stored(engine, order).status, stored(engine, order).refunded_amount) == (
        "paid",
        Decimal("59.900"),
    )
    assert analytics(world, hoodie, brand) == {
        "orders_paid": 1,
        "revenue": {"EUR": "59.90"},
        "refunded": {"EUR": "59.90"},
    }

    # When the second hoodie is refunded too (the charge now says 11980 refunded)
    second = refund(world, "evt_refund_2", 11980)

    # Then the order is refunded: no paid order, no revenue, the whole payment shown as refunded
    assert second["outcome"] == f"order {order.id} is refunded, 119.80 EUR of 119.80 EUR refunded"
    assert stored(engine, order).status == "refunded"
    assert analytics(world, hoodie, brand) == {
        "orders_paid": 0,
        "revenue": {"EUR": "0.00"},
        "refunded": {"EUR": "119.80"},
    }


def test_stripe_refund_events_out_of_order_or_delivered_again_count_once(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    order = stripe_paid(world, hoodie, engine)
    # The later snapshot (two refunds, 80.00 in all) arrives before the earlier one (20.00)
    refund(world, "evt_refund_b", 8000)
    older = refund(world, "evt_refund_a", 2000)
    again = world.stripe.refunded_event("cs_test_0001", "evt_refund_b", ACCOUNT, refunded=8000)
    replayed = receipt(stripe_delivery(world.client, again))

    assert older["outcome"] == f"order {order.id} stays paid, 80.00 EUR refunded"
    assert replayed["duplicate"] is True
    assert stored(engine, order).refunded_amount == Decimal("80.000")
    assert analytics(world, hoodie, brand) == {
        "orders_paid": 1,
        "revenue": {"EUR": "39.80"},
        "refunded": {"EUR": "80.00"},
    }


def test_refund_snapshots_delivered_at_once_settle_on_the_largest(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    skip_unless_postgres(engine)
    order = stripe_paid(world, hoodie, engine)
    # Six refunds of 10.00 each: Stripe's six snapshots of the charge, all delivered at the same moment
    bodies = [
        world.stripe.refunded_event("cs_test_0001", f"evt_refund_{n}", ACCOUNT, refunded=1000 * n)
        for n in range(1, 7)
    ]

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda body: stripe_delivery(world.client, body), bodies))

    assert [response.status_code for response in responses] == [200] * 6
    assert stored(engine, order).refunded_amount == Decimal("60.000")
    assert analytics(world, hoodie, brand)["revenue"] == {"EUR": "59.80"}


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        (
            {"account": "acct_SomeoneElse"},
            "ignored: payment pi_test_0001 is not from the brand's Stripe account",
        ),
        ({"livemode": True}, "ignored: a live-mode event, and this platform charges with test keys"),
    ],
    ids=["another-account", "other-mode"],
)
def test_a_stripe_refund_from_another_account_or_mode_changes_nothing(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount, changes: dict[str, Any], says: str
) -> None:
    order = stripe_paid(world, hoodie, engine)

    answer = refund(world, "evt_refund_x", 11980, **changes)

    assert answer["outcome"] == says
    assert (stored(engine, order).status, stored(engine, order).refunded_amount) == ("paid", Decimal("0.000"))
    assert analytics(world, hoodie, brand)["revenue"] == {"EUR": "119.80"}


def test_a_stripe_refund_that_overtakes_its_order_is_held_and_leaves_revenue_once_the_order_is_recorded(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given a paid session whose checkout.session.completed failed (Stripe will retry it), and the brand
    # refunding one hoodie, then the second, meanwhile
    tap(world, hoodie, quantity=2)
    first = refund(world, "evt_refund_early_1", 5990)
    second = refund(world, "evt_refund_early_2", 11980)
    older = refund(world, "evt_refund_early_0", 2000)  # an older snapshot, delivered last
    assert first["outcome"] == (
        "held: no ReelCart order for payment pi_test_0001 yet; its refunds (59.90 EUR) count if the order "
        "is recorded within 7 days"
    )
    assert (second["handled"], older["handled"]) == (True, True)
    assert rows(engine, Order) == []

    # When the retried checkout.session.completed records the order
    recorded = receipt(stripe_delivery(world.client, paid_body(world)))

    # Then it is recorded refunded in full: no paid order, no revenue, and the hold is gone
    (order,) = rows(engine, Order)
    assert recorded["outcome"] == (
        f"order {order.id} recorded (paid, 119.80 EUR); refunded before it was recorded: 119.80 EUR"
    )
    assert (order.status, order.refunded_amount) == ("refunded", Decimal("119.800"))
    assert rows(engine, HeldRefund) == []
    assert analytics(world, hoodie, brand) == {
        "orders_paid": 0,
        "revenue": {"EUR": "0.00"},
        "refunded": {"EUR": "119.80"},
    }


def test_a_held_stripe_refund_from_another_account_is_not_applied(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    tap(world, hoodie, quantity=2)
    refund(world, "evt_refund_foreign", 11980, account="acct_SomeoneElse")

    recorded = receipt(stripe_delivery(world.client, paid_body(world)))

    (order,) = rows(engine, Order)
    assert recorded["outcome"] == f"order {order.id} recorded (paid, 119.80 EUR)"
    assert (order.status, order.refunded_amount) == ("paid", Decimal("0.000"))
    assert analytics(world, hoodie, brand)["revenue"] == {"EUR": "119.80"}


def test_a_held_refund_is_forgotten_after_a_week(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # A refund held eight days ago (a sale no tap led to, or an order whose delivery never came)
    tap(world, hoodie, quantity=2)
    refund(world, "evt_refund_old", 11980)
    with Session(engine) as session:
        (held,) = session.exec(select(HeldRefund)).all()
        held.received_at = utcnow() - HOLD_FOR - timedelta(days=1)
        session.add(held)
        session.commit()

    # is not applied to an order recorded now
    recorded = receipt(stripe_delivery(world.client, paid_body(world)))
    (order,) = rows(engine, Order)
    assert recorded["outcome"] == f"order {order.id} recorded (paid, 119.80 EUR)"
    assert analytics(world, hoodie, brand)["revenue"] == {"EUR": "119.80"}

    # and a later hold sweeps old ones away
    with Session(engine) as session:
        session.add(
            HeldRefund(provider="stripe", payment_ref="pi_stale", received_at=utcnow() - HOLD_FOR * 2)
        )
        session.commit()
    refund(world, "evt_refund_other", 500, payment_intent="pi_unrelated")
    assert [row.payment_ref for row in rows(engine, HeldRefund)] == ["pi_unrelated"]


def test_a_refund_and_its_order_delivered_at_the_same_moment_count_once(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    skip_unless_postgres(engine)
    tap(world, hoodie, quantity=2)
    bodies = [
        world.stripe.refunded_event("cs_test_0001", "evt_refund_race", ACCOUNT, refunded=11980),
        paid_body(world),
    ]

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(lambda body: stripe_delivery(world.client, body), bodies))

    assert [response.status_code for response in responses] == [200, 200]
    (order,) = rows(engine, Order)
    assert (order.status, order.refunded_amount) == ("refunded", Decimal("119.800"))
    assert rows(engine, HeldRefund) == []


def test_a_refund_of_an_order_recorded_before_payments_were_kept_changes_nothing(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    # An order recorded before the orders knew their PaymentIntent (migration 0020) is not found by the
    # charge's payment: the refund is held, and the order stays as it was
    tap(world, hoodie, quantity=2)
    receipt(stripe_delivery(world.client, paid_body(world)))
    (order,) = rows(engine, Order)
    with Session(engine) as session:
        legacy = session.get(Order, order.id)
        assert legacy is not None
        legacy.provider_payment_id = None
        session.add(legacy)
        session.commit()

    answer = refund(world, "evt_refund_legacy", 11980)

    assert answer["outcome"].startswith("held: no ReelCart order for payment pi_test_0001 yet")
    assert stored(engine, order).status == "paid"


def charge_reads(world: World) -> list[str | None]:
    """The connected account each read of a charge named (Stripe-Account header)."""
    return [
        request.headers.get("stripe-account")
        for request in world.stripe_server.requests
        if request.method == "GET" and request.path.startswith("/v1/charges/")
    ]


def refund_failed(world: World, event_id: str, minor_units: int, **changes: Any) -> dict[str, Any]:
    account = changes.pop("account", ACCOUNT)
    body = world.stripe.refund_failed_event("cs_test_0001", event_id, account, failed=minor_units, **changes)
    return receipt(stripe_delivery(world.client, body))


def test_a_stripe_refund_that_fails_gives_the_order_its_revenue_back(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given an order refunded in full
    order = stripe_paid(world, hoodie, engine)
    refund(world, "evt_refund_all", 11980)
    assert stored(engine, order).status == "refunded"

    # When the refund fails (the shopper's card was closed): Stripe sends the refund alone
    answer = refund_failed(world, "evt_refund_failed", 11980)

    # Then the charge is read from the brand's account, and the order is paid again with its revenue
    assert answer["outcome"] == (
        f"order {order.id} is paid, 0.00 EUR of 119.80 EUR refunded (a refund failed; read from the charge)"
    )
    assert charge_reads(world) == [ACCOUNT]
    assert analytics(world, hoodie, brand) == {"orders_paid": 1, "revenue": {"EUR": "119.80"}, "refunded": {}}


def test_a_snapshot_made_before_the_failure_does_not_count_the_failed_refund_again(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    order = stripe_paid(world, hoodie, engine)
    # Two refunds (20.00, then 60.00 more: 80.00 in all); the second fails
    refund(world, "evt_refund_20", 2000)
    refund(world, "evt_refund_80", 8000)
    refund_failed(world, "evt_refund_60_failed", 6000)
    assert stored(engine, order).refunded_amount == Decimal("20.000")

    # When Stripe's snapshot from before the failure is delivered again late (a retry)
    late = world.stripe.refunded_event("cs_test_0001", "evt_refund_80_retry", ACCOUNT, refunded=8000)
    answer = receipt(stripe_delivery(world.client, late))

    # Then it changes nothing; a refund made after the failure still counts
    assert answer["outcome"] == f"order {order.id} stays paid, 20.00 EUR refunded"
    newer = world.stripe.refunded_event(
        "cs_test_0001", "evt_refund_50", ACCOUNT, refunded=5000, created=NOW + 9000
    )
    assert receipt(stripe_delivery(world.client, newer))["outcome"] == (
        f"order {order.id} is paid, 50.00 EUR of 119.80 EUR refunded"
    )
    assert analytics(world, hoodie, brand)["revenue"] == {"EUR": "69.80"}


def test_two_failed_refunds_delivered_out_of_order_keep_the_later_read(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    order = stripe_paid(world, hoodie, engine)
    refund(world, "evt_refund_80", 8000)
    # Two refunds fail, 50.00 then 30.00; the later failure's delivery (the charge read: 0.00) comes first
    first = world.stripe.refund_failed_event(
        "cs_test_0001", "evt_failed_a", ACCOUNT, failed=5000, created=NOW + 7000
    )
    second = world.stripe.refund_failed_event(
        "cs_test_0001", "evt_failed_b", ACCOUNT, failed=3000, created=NOW + 8000
    )
    receipt(stripe_delivery(world.client, second))
    world.stripe.charges["ch_test_0001"]["amount_refunded"] = 3000  # what a read made between the two said

    older = receipt(stripe_delivery(world.client, first))

    assert older["outcome"] == (
        f"order {order.id} stays paid, 0.00 EUR refunded (a later failed refund was read already)"
    )
    assert stored(engine, order).refunded_amount == Decimal("0.000")


def test_a_failed_refund_of_an_order_recorded_meanwhile_is_delivered_again_not_read_in_the_transaction(
    world: World, hoodie: Shoppable, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import api.webhooks.service as webhook_service  # noqa: PLC0415

    order = stripe_paid(world, hoodie, engine)
    refund(world, "evt_refund_all", 11980)
    body = world.stripe.refund_failed_event("cs_test_0001", "evt_refund_failed", ACCOUNT, failed=11980)
    # As when the order is recorded between the look before the writes and the handler
    with monkeypatch.context() as patched:
        patched.setattr(webhook_service, "_prefetch_charge", lambda *_: None)
        failed = stripe_delivery(world.client, body)

    assert (failed.status_code, failed.json()["retryable"]) == (502, True)
    assert charge_reads(world) == []
    assert receipt(stripe_delivery(world.client, body))["duplicate"] is False
    assert stored(engine, order).status == "paid"


def test_refund_updates_that_undo_nothing_or_are_not_reelcarts_read_nothing(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    order = stripe_paid(world, hoodie, engine)
    refund(world, "evt_refund_all", 11980)

    succeeded = refund_failed(world, "evt_refund_succeeded", 0, status="succeeded")
    foreign = refund_failed(world, "evt_refund_foreign", 11980, account="acct_SomeoneElse")

    assert succeeded["outcome"] == "ignored: event type not used by ReelCart"
    assert foreign["outcome"] == "ignored: payment pi_test_0001 is not from the brand's Stripe account"
    assert charge_reads(world) == []
    assert stored(engine, order).status == "refunded"


def test_a_failed_charge_read_is_not_acknowledged_so_stripe_redelivers_it(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    order = stripe_paid(world, hoodie, engine)
    refund(world, "evt_refund_all", 11980)
    body = world.stripe.refund_failed_event("cs_test_0001", "evt_refund_failed", ACCOUNT, failed=11980)
    world.stripe.faults.append(error_reply(500, "api_error", "Something went wrong"))

    failed = stripe_delivery(world.client, body)
    assert failed.status_code == 502
    assert stored(engine, order).status == "refunded"

    retried = receipt(stripe_delivery(world.client, body))
    assert retried["duplicate"] is False
    assert stored(engine, order).status == "paid"


def held(engine: Engine) -> list[tuple[Decimal | None, bool]]:
    """Each held refund's total, and whether a failed refund was applied to it."""
    return [(row.refunded_amount, row.refunds_reset_at is not None) for row in rows(engine, HeldRefund)]


def test_a_refund_that_fails_while_it_is_held_is_not_counted_when_the_order_is_recorded(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given a paid session whose checkout.session.completed is still being retried, refunded in full
    # meanwhile (held)
    tap(world, hoodie, quantity=2)
    refund(world, "evt_refund_all", 11980)
    assert held(engine) == [(Decimal("119.800"), False)]

    # When that refund fails before the order is recorded
    answer = refund_failed(world, "evt_refund_failed", 11980)

    # Then the charge is read from the account that reported the refund, and the hold keeps what stands
    assert answer["outcome"] == (
        "held: no ReelCart order for payment pi_test_0001 yet; its refunds now 0.00 EUR (a refund failed; "
        "read from the charge)"
    )
    assert charge_reads(world) == [ACCOUNT]
    assert held(engine) == [(Decimal("0.000"), True)]
    # And Stripe's snapshot from before the failure, delivered again late, does not raise it again
    refund(world, "evt_refund_all_retry", 11980)
    assert held(engine) == [(Decimal("0.000"), True)]

    # And when the retried checkout.session.completed records the order, it is paid, with its revenue
    recorded = receipt(stripe_delivery(world.client, paid_body(world)))
    (order,) = rows(engine, Order)
    assert recorded["outcome"] == f"order {order.id} recorded (paid, 119.80 EUR)"
    assert (order.status, order.refunded_amount) == ("paid", Decimal("0.000"))
    assert analytics(world, hoodie, brand) == {"orders_paid": 1, "revenue": {"EUR": "119.80"}, "refunded": {}}
    # And the order keeps the failure's time: the stale snapshot, delivered once more, changes nothing
    late = world.stripe.refunded_event("cs_test_0001", "evt_refund_all_late", ACCOUNT, refunded=11980)
    assert receipt(stripe_delivery(world.client, late))["outcome"] == (
        f"order {order.id} stays paid, 0.00 EUR refunded"
    )


def test_a_failure_of_a_held_refund_from_another_account_or_stored_meanwhile_reads_nothing_first(
    world: World, hoodie: Shoppable, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import api.webhooks.service as webhook_service  # noqa: PLC0415

    tap(world, hoodie, quantity=2)
    refund(world, "evt_refund_all", 11980)

    # A failure another account reports is not the hold's: nothing is read, the hold stays
    foreign = refund_failed(world, "evt_refund_failed_foreign", 11980, account="acct_SomeoneElse")
    assert foreign["outcome"] == (
        "ignored: the refunds held for payment pi_test_0001 were reported by another Stripe account"
    )
    assert charge_reads(world) == []
    assert held(engine) == [(Decimal("119.800"), False)]
    world.stripe.charges["ch_test_0001"]["amount_refunded"] = 11980  # (the fake took it off this charge)

    # A failure whose hold was stored after the look before the writes is not acknowledged: Stripe
    # delivers it again, and that delivery reads the charge first
    body = world.stripe.refund_failed_event("cs_test_0001", "evt_refund_failed", ACCOUNT, failed=6000)
    with monkeypatch.context() as patched:
        patched.setattr(webhook_service, "_prefetch_charge", lambda *_: None)
        failed = stripe_delivery(world.client, body)
    assert (failed.status_code, failed.json()["retryable"]) == (502, True)
    assert held(engine) == [(Decimal("119.800"), False)]
    assert receipt(stripe_delivery(world.client, body))["duplicate"] is False
    assert held(engine) == [(Decimal("59.800"), True)]


def test_a_failed_refund_held_for_an_account_no_brand_has_reads_nothing(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    # Given a refund held as a connected account no brand has reported it (a sale no tap led to)
    tap(world, hoodie, quantity=2)
    refund(world, "evt_refund_elsewhere", 11980, account="acct_NoBrand")

    # When that account reports the refund failed, Stripe is not asked about it
    answer = refund_failed(world, "evt_refund_failed_elsewhere", 11980, account="acct_NoBrand")

    assert answer["outcome"] == (
        "ignored: no brand's Stripe account is acct_NoBrand; nothing of it can be recorded"
    )
    assert charge_reads(world) == []


def test_two_failures_of_a_held_refund_delivered_out_of_order_keep_the_later_read(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    tap(world, hoodie, quantity=2)
    refund(world, "evt_refund_80", 8000)
    first = world.stripe.refund_failed_event(
        "cs_test_0001", "evt_failed_a", ACCOUNT, failed=5000, created=NOW + 7000
    )
    second = world.stripe.refund_failed_event(
        "cs_test_0001", "evt_failed_b", ACCOUNT, failed=3000, created=NOW + 8000
    )
    receipt(stripe_delivery(world.client, second))  # the charge read then: 0.00
    world.stripe.charges["ch_test_0001"]["amount_refunded"] = 3000  # what a read between the two said

    older = receipt(stripe_delivery(world.client, first))

    assert older["outcome"] == (
        "held: refunds of payment pi_test_0001 stay as held (a later failed refund was read already)"
    )
    assert held(engine) == [(Decimal("0.000"), True)]


def test_a_failed_refund_of_a_payment_with_no_order_and_no_hold_reads_nothing(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    tap(world, hoodie, quantity=2)
    refund(world, "evt_refund_all", 11980)
    with Session(engine) as session:
        for row in session.exec(select(HeldRefund)).all():
            session.delete(row)
        session.commit()

    answer = refund_failed(world, "evt_refund_failed", 11980)

    assert answer["outcome"] == "ignored: no ReelCart order for payment pi_test_0001"
    assert charge_reads(world) == []


# Shopify -----------------------------------------------------------------------------------------


def shopify_paid(world: World, item: Shoppable, engine: Engine) -> Order:
    """A tap for two hoodies (119.80 EUR) ordered and paid through Shopify as order 90."""
    tap(world, item, provider="shopify", quantity=2)
    body = world.shopify.order_webhook(cart_number=1, order_number=90)
    receipt(shopify_delivery(world.client, body, topic="orders/create", event_id="e-90-create"))
    (order,) = rows(engine, Order)
    assert isinstance(order, Order)
    return order


def shopify_refund(world: World, refund_number: int, *, amount: str, total: str) -> dict[str, Any]:
    """Shopify refunds `amount` of order 90, bringing its refunded total to `total` (shop currency)."""
    world.shopify.refunded[ORDER_90] = (total, "EUR")
    body = world.shopify.refund_webhook(90, refund_number, amount=amount)
    return receipt(
        shopify_delivery(world.client, body, topic="refunds/create", event_id=f"e-refund-{refund_number}")
    )


def order_refund_reads(world: World) -> int:
    return sum("query OrderRefunds(" in request.json()["query"] for request in world.shopify_server.requests)


def test_shopify_refunds_take_the_orders_refunded_total_from_the_admin_api(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    order = shopify_paid(world, hoodie, engine)

    first = shopify_refund(world, 1, amount="20.00", total="20.00")
    second = shopify_refund(world, 2, amount="99.80", total="119.80")

    assert first["outcome"] == f"order {order.id} is paid, 20.00 EUR of 119.80 EUR refunded"
    assert second["outcome"] == f"order {order.id} is refunded, 119.80 EUR of 119.80 EUR refunded"
    assert order_refund_reads(world) == 2
    # And a shopper asking what the shop's apps hold about the order is told of the refund too
    asked = shopify_delivery(
        world.client,
        {
            "shop_id": 954889,
            "shop_domain": SHOP,
            "orders_requested": [90],
            "customer": {"id": 191167},
            "data_request": {"id": 9999},
        },
        topic="customers/data_request",
    )
    assert "gid://shopify/Order/90 119.80 EUR refunded (119.80 EUR refunded) " in receipt(asked)["outcome"]
    assert analytics(world, hoodie, brand) == {
        "orders_paid": 0,
        "revenue": {"EUR": "0.00"},
        "refunded": {"EUR": "119.80"},
    }


def test_a_late_orders_paid_leaves_a_refunded_order_refunded(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given an order refunded in full, and then orders/paid delivered late (a retry Shopify kept)
    order = shopify_paid(world, hoodie, engine)
    shopify_refund(world, 5, amount="119.80", total="119.80")
    paid = world.shopify.order_webhook(cart_number=1, order_number=90)

    late = receipt(shopify_delivery(world.client, paid, topic="orders/paid", event_id="e-90-paid"))

    assert late["outcome"] == f"order {order.id} stays refunded"
    assert analytics(world, hoodie, brand)["orders_paid"] == 0


def test_a_refund_before_a_retried_orders_paid_keeps_the_order_out_of_paid_orders(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given an order stored as pending, refunded in full before its (retried) orders/paid came
    tap(world, hoodie, provider="shopify", quantity=2)
    created = json.loads(world.shopify.order_webhook(cart_number=1, order_number=90))
    pending = created | {"financial_status": "pending"}
    receipt(shopify_delivery(world.client, pending, topic="orders/create", event_id="e-90-create"))
    shopify_refund(world, 6, amount="119.80", total="119.80")

    # When orders/paid arrives, with a total edited below what was refunded
    paid = created | {"financial_status": "paid", "total_price": "100.00"}
    receipt(shopify_delivery(world.client, paid, topic="orders/paid", event_id="e-90-paid"))

    # Then the order is refunded (never more than it took), and analytics stay whole
    (order,) = rows(engine, Order)
    assert (order.status, order.amount, order.refunded_amount) == (
        "refunded",
        Decimal("100.000"),
        Decimal("100.000"),
    )
    assert analytics(world, hoodie, brand) == {
        "orders_paid": 0,
        "revenue": {"EUR": "0.00"},
        "refunded": {"EUR": "100.00"},
    }


def test_an_order_first_seen_refunded_counts_its_refund_and_no_revenue(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    tap(world, hoodie, provider="shopify", quantity=2)
    created = json.loads(world.shopify.order_webhook(cart_number=1, order_number=90))

    shopify_delivery(world.client, created | {"financial_status": "refunded"}, topic="orders/create")

    (order,) = rows(engine, Order)
    assert (order.status, order.refunded_amount) == ("refunded", Decimal("119.800"))
    assert analytics(world, hoodie, brand) == {
        "orders_paid": 0,
        "revenue": {"EUR": "0.00"},
        "refunded": {"EUR": "119.80"},
    }


def test_a_refund_from_an_uninstalled_shop_is_acknowledged_and_changes_nothing(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    order = shopify_paid(world, hoodie, engine)
    receipt(shopify_delivery(world.client, {"id": 1}, topic="app/uninstalled"))
    world.shopify.refunded[ORDER_90] = ("119.80", "EUR")

    body = world.shopify.refund_webhook(90, 8, amount="119.80")
    answer = receipt(shopify_delivery(world.client, body, topic="refunds/create"))

    assert answer["outcome"] == f"ignored: shop {SHOP} is not connected to a brand"
    assert (stored(engine, order).status, order_refund_reads(world)) == ("paid", 0)


def test_a_shopify_refund_of_an_order_no_tap_led_to_asks_shopify_nothing(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    shopify_paid(world, hoodie, engine)
    world.shopify.refunded["gid://shopify/Order/555"] = ("10.00", "EUR")

    body = world.shopify.refund_webhook(555, 7, amount="10.00")
    answer = receipt(shopify_delivery(world.client, body, topic="refunds/create"))

    assert answer["outcome"] == (
        "held: order gid://shopify/Order/555 is not a ReelCart order (yet); its refunds count if it is "
        "recorded within 7 days"
    )
    assert order_refund_reads(world) == 0
    (held,) = rows(engine, HeldRefund)
    assert (held.payment_ref, held.reported_by, held.refunded_amount) == (
        "gid://shopify/Order/555",
        SHOP,
        None,
    )


def test_a_shopify_refund_that_overtakes_its_order_is_read_when_the_order_is_recorded(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    # Given a tap's order 90 whose orders/create failed (Shopify retries it), refunded in part meanwhile
    tap(world, hoodie, provider="shopify", quantity=2)
    shopify_refund(world, 11, amount="20.00", total="20.00")
    assert (rows(engine, Order), order_refund_reads(world)) == ([], 0)

    # When the retried orders/create arrives (Shopify's refunded total has grown since)
    world.shopify.refunded[ORDER_90] = ("50.00", "EUR")
    body = world.shopify.order_webhook(cart_number=1, order_number=90)
    recorded = receipt(shopify_delivery(world.client, body, topic="orders/create", event_id="e-90-create"))

    # Then the order's refunded total is read once, and revenue is what was kept
    (order,) = rows(engine, Order)
    assert recorded["outcome"] == (
        f"order {order.id} recorded (paid, 119.80 EUR); refunded before it was recorded: 50.00 EUR"
    )
    assert order_refund_reads(world) == 1
    assert rows(engine, HeldRefund) == []
    assert analytics(world, hoodie, brand) == {
        "orders_paid": 1,
        "revenue": {"EUR": "69.80"},
        "refunded": {"EUR": "50.00"},
    }


def test_an_order_reelcart_does_not_record_asks_shopify_nothing_even_with_a_held_refund(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    # A shop order no tap led to, refunded and then cancelled: its hold is of no ReelCart order
    world.shopify.refunded["gid://shopify/Order/91"] = ("10.00", "EUR")
    receipt(
        shopify_delivery(
            world.client, world.shopify.refund_webhook(91, 13, amount="10.00"), topic="refunds/create"
        )
    )
    tap(world, hoodie, provider="shopify")
    body = json.loads(world.shopify.order_webhook(cart_number=1, order_number=91)) | {"note_attributes": []}

    answer = receipt(shopify_delivery(world.client, body, topic="orders/create"))

    assert answer["outcome"] == "ignored: order #1091 has no ReelCart attribution"
    assert (order_refund_reads(world), rows(engine, Order)) == (0, [])


def test_a_stripe_refund_larger_than_any_order_is_not_held(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    # A connected account's own sale, refunded in a currency of large numbers (10^13 IDR is no tap's order)
    tap(world, hoodie, quantity=2)

    answer = refund(world, "evt_refund_huge", 10**15, payment_intent="pi_outside_reelcart")

    assert answer["outcome"] == "ignored: no ReelCart order for payment pi_outside_reelcart"
    assert rows(engine, HeldRefund) == []


def test_an_order_without_a_held_refund_asks_shopify_nothing_about_refunds(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    shopify_paid(world, hoodie, engine)

    assert order_refund_reads(world) == 0


def test_a_shops_redaction_deletes_the_refunds_it_reported(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    tap(world, hoodie, provider="shopify", quantity=2)
    shopify_refund(world, 12, amount="20.00", total="20.00")
    receipt(shopify_delivery(world.client, {"id": 1}, topic="app/uninstalled"))

    answer = receipt(
        shopify_delivery(world.client, {"shop_id": 954889, "shop_domain": SHOP}, topic="shop/redact")
    )

    assert answer["handled"] is True
    assert rows(engine, HeldRefund) == []


def test_a_failed_refund_read_is_not_acknowledged_so_shopify_redelivers_it(
    world: World, hoodie: Shoppable, engine: Engine, brand: BrandAccount
) -> None:
    order = shopify_paid(world, hoodie, engine)
    world.shopify.refunded[ORDER_90] = ("30.00", "EUR")
    world.shopify.faults.append(Reply.json(503, {"errors": "unavailable"}))
    body = world.shopify.refund_webhook(90, 3, amount="30.00")

    failed = shopify_delivery(world.client, body, topic="refunds/create", event_id="e-refund-3")
    assert (failed.status_code, failed.json()["retryable"]) == (502, True)
    assert stored(engine, order).refunded_amount == Decimal("0.000")

    retried = receipt(shopify_delivery(world.client, body, topic="refunds/create", event_id="e-refund-3"))
    assert retried["outcome"] == f"order {order.id} is paid, 30.00 EUR of 119.80 EUR refunded"
    assert analytics(world, hoodie, brand)["revenue"] == {"EUR": "89.80"}


def test_a_refunded_total_in_another_currency_than_the_order_changes_nothing(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    order = shopify_paid(world, hoodie, engine)
    world.shopify.refunded[ORDER_90] = ("25.00", "USD")
    body = world.shopify.refund_webhook(90, 4, amount="25.00")

    answer = receipt(shopify_delivery(world.client, body, topic="refunds/create"))

    assert answer["outcome"] == f"ignored: refund in USD, but order {order.id} was recorded in EUR"
    assert stored(engine, order).refunded_amount == Decimal("0.000")


def test_a_refund_body_without_its_order_is_400_and_changes_nothing(
    world: World, hoodie: Shoppable, engine: Engine
) -> None:
    shopify_paid(world, hoodie, engine)

    response = shopify_delivery(world.client, {"id": 5, "transactions": []}, topic="refunds/create")

    assert response.status_code == 400
    assert response.json()["type"].endswith("invalid-webhook-payload")
    assert "refunds/create payload invalid at order_id: Field required" in response.json()["detail"]
    assert order_refund_reads(world) == 0
