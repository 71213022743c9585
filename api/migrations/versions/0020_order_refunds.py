"""orders keep their refunds: the refunded total (revenue counts what was kept) and, for Stripe, the
PaymentIntent that `charge.refunded` names the purchase by

Orders recorded as `refunded` before it (Shopify said so when the order was first seen) are refunded in
full. Orders recorded before this revision have no PaymentIntent id: a Stripe refund of one of them is
acknowledged and changes nothing (its receipt says no ReelCart order has that payment).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "refunded_amount",
                sa.Numeric(precision=12, scale=3, asdecimal=True),
                nullable=False,
                server_default="0",
            )
        )
        batch_op.add_column(sa.Column("provider_payment_id", sa.String(length=200), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_order_provider_payment_id"), ["provider_payment_id"], unique=False
        )
    # An order recorded as `refunded` (Shopify's financial status when it was first seen) was refunded in
    # full: analytics now count refunded orders' refunds, so it must say how much.
    op.execute(sa.text("UPDATE \"order\" SET refunded_amount = amount WHERE status = 'refunded'"))


def downgrade() -> None:
    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_provider_payment_id"))
        batch_op.drop_column("provider_payment_id")
        batch_op.drop_column("refunded_amount")
