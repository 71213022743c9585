"""a Stripe refund that fails while it is held (its order not recorded yet) lowers the hold: held
refunds keep the Stripe time of the last failed refund applied to them, as orders do (0025)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("heldrefund", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refunds_reset_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("heldrefund", schema=None) as batch_op:
        batch_op.drop_column("refunds_reset_at")
