"""Migration 0020: orders keep their refunds. Orders stored before it have nothing refunded, count in
revenue as before, and know no PaymentIntent (a Stripe refund of one says so and changes nothing).
Migration 0026: refunds held before it keep their total, with no failed refund applied."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from sqlmodel import Session

from api.checkout.models import Order
from api.db import alembic_config, upgrade_database
from api.webhooks.models import HeldRefund
from tests.api.migration_support import migrated_with_a_brand


def test_orders_stored_before_0020_have_their_refunds_and_no_payment_id(tmp_path: Path) -> None:
    engine, brand_id = migrated_with_a_brand(tmp_path)
    command.downgrade(alembic_config(engine), "0019")
    order_id, refunded_id = uuid.uuid4(), uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                'INSERT INTO "order" (id, brand_id, provider, provider_event_id, provider_order_id, amount, '
                "currency, status, created_at) VALUES (:id, :brand, 'stripe', 'evt_1', 'cs_1', 119.8, 'EUR', "
                "'paid', :now)"
            ),
            {"id": order_id.hex, "brand": brand_id.hex, "now": datetime.now(UTC)},
        )
        # An order Shopify said was refunded when it was first seen
        connection.execute(
            sa.text(
                'INSERT INTO "order" (id, brand_id, provider, provider_event_id, provider_order_id, amount, '
                "currency, status, created_at) VALUES (:id, :brand, 'shopify', 'e-2', "
                "'gid://shopify/Order/2', 59.9, 'EUR', 'refunded', :now)"
            ),
            {"id": refunded_id.hex, "brand": brand_id.hex, "now": datetime.now(UTC)},
        )

    upgrade_database(engine)

    with Session(engine) as session:
        order = session.get_one(Order, order_id)
        assert (order.amount, order.refunded_amount, order.provider_payment_id, order.status) == (
            Decimal("119.800"),
            Decimal("0.000"),
            None,
            "paid",
        )
        # And the one first seen refunded was refunded in full
        assert session.get_one(Order, refunded_id).refunded_amount == Decimal("59.900")
    # And going back leaves the order as it was before
    command.downgrade(alembic_config(engine), "0019")
    with engine.connect() as connection:
        amount, status = connection.execute(
            sa.text('SELECT amount, status FROM "order" WHERE id = :id'), {"id": order_id.hex}
        ).one()
    assert (Decimal(str(amount)), status) == (Decimal("119.8"), "paid")


def test_refunds_held_before_0026_keep_their_total_and_no_failed_refund(tmp_path: Path) -> None:
    engine, _ = migrated_with_a_brand(tmp_path)
    command.downgrade(alembic_config(engine), "0025")
    held_id = uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO heldrefund (id, provider, payment_ref, reported_by, refunded_amount, currency, "
                "received_at) VALUES (:id, 'stripe', 'pi_1', 'acct_1', 59.9, 'EUR', :now)"
            ),
            {"id": held_id.hex, "now": datetime.now(UTC)},
        )

    upgrade_database(engine)

    with Session(engine) as session:
        held = session.get_one(HeldRefund, held_id)
        assert (held.refunded_amount, held.currency, held.refunds_reset_at) == (
            Decimal("59.900"),
            "EUR",
            None,
        )
    # And going back keeps the hold
    command.downgrade(alembic_config(engine), "0025")
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT payment_ref FROM heldrefund")).scalar_one() == "pi_1"
