"""a refund of a purchase not recorded yet is held until its order is, instead of being lost

A refund can reach ReelCart before the purchase's own event has been processed (that delivery failed
and the provider retries it later). Held refunds are applied when the order is recorded and forgotten
after a week. Refunds acknowledged as unmatched before this revision were not kept: nothing changes
for them.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 17:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "heldrefund",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("payment_ref", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("reported_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("refunded_amount", sa.Numeric(precision=12, scale=3), nullable=True),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "payment_ref", name="uq_heldrefund_provider_payment"),
    )
    with op.batch_alter_table("heldrefund", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_heldrefund_received_at"), ["received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("heldrefund", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_heldrefund_received_at"))
    op.drop_table("heldrefund")
