"""link jobs may re-link only the placements awaiting review (queued by a change to the brand's linking
settings), and count the placements they approved themselves

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("linkjob", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("awaiting_review_only", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("auto_approved", sa.Integer(), nullable=False, server_default="0"))
    # Product-scoped jobs (0014) only ever re-linked placements awaiting review.
    op.execute(sa.text("UPDATE linkjob SET awaiting_review_only = true WHERE product_id IS NOT NULL"))


def downgrade() -> None:
    with op.batch_alter_table("linkjob", schema=None) as batch_op:
        batch_op.drop_column("auto_approved")
        batch_op.drop_column("awaiting_review_only")
