"""placements remember whether the linker or a person approved them, so a re-link may withdraw the
linker's approval (never a person's); link jobs count the approvals they withdrew or moved to another
product, and their scope "awaiting review only" becomes "decided by the linker only" (awaiting review,
or approved by it)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("placement", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("approved_by_linker", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Every person's decision is a review action, so an approved placement no one acted on was approved
    # by the linker (at tagging, or by a re-link; from this revision on, re-links write actions of the
    # actor "linker", which a round trip through a downgrade must not count as a person's).
    op.execute(
        sa.text(
            "UPDATE placement SET approved_by_linker = true WHERE status = 'approved' "
            "AND NOT EXISTS (SELECT 1 FROM reviewaction WHERE reviewaction.placement_id = placement.id "
            "AND reviewaction.actor != 'linker')"
        )
    )
    with op.batch_alter_table("linkjob", schema=None) as batch_op:
        batch_op.alter_column("awaiting_review_only", new_column_name="linker_decided_only")
        batch_op.add_column(sa.Column("withdrawn", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("moved", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    # Before this revision every review action was a person's, and a re-tag kept what one named.
    op.execute(sa.text("DELETE FROM reviewaction WHERE actor = 'linker'"))
    with op.batch_alter_table("linkjob", schema=None) as batch_op:
        batch_op.drop_column("moved")
        batch_op.drop_column("withdrawn")
        batch_op.alter_column("linker_decided_only", new_column_name="awaiting_review_only")
    with op.batch_alter_table("placement", schema=None) as batch_op:
        batch_op.drop_column("approved_by_linker")
