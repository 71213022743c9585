"""link jobs may be scoped to one product: saving a product's own-print marks re-links the placements
those marks decide

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("linkjob", schema=None) as batch_op:
        # Jobs queued before this revision were episode- or brand-wide: null.
        batch_op.add_column(sa.Column("product_id", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_linkjob_product_id"), ["product_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("linkjob", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_linkjob_product_id"))
        batch_op.drop_column("product_id")
