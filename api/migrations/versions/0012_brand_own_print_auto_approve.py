"""brands choose the confidence from which a link whose marked own print the crops confirmed is approved;
placements keep the confidence their link needed to be approved

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("brand", schema=None) as batch_op:
        # Existing brands get the default every new brand gets.
        batch_op.add_column(
            sa.Column("own_print_auto_approve", sa.Float(), nullable=False, server_default="0.5")
        )
    with op.batch_alter_table("brand", schema=None) as batch_op:
        batch_op.alter_column("own_print_auto_approve", server_default=None)
    with op.batch_alter_table("placement", schema=None) as batch_op:
        # Placements linked before this revision did not record it: null, as for unlinked ones.
        batch_op.add_column(sa.Column("link_approval_level", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("placement", schema=None) as batch_op:
        batch_op.drop_column("link_approval_level")
    with op.batch_alter_table("brand", schema=None) as batch_op:
        batch_op.drop_column("own_print_auto_approve")
