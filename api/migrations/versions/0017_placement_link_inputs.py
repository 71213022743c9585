"""placements keep what their link's decision weighed besides the brand's thresholds, so a change of
those thresholds decides the links again without linking them again; link jobs queued by such a change
say so (`decide_only`) and count the placements they decided again from it (`redecided`)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Null for the placements linked before this revision: a settings job links them again from their
    # crops, as before, and that re-link stores their inputs.
    with op.batch_alter_table("placement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_inputs", sa.JSON(), nullable=True))
    with op.batch_alter_table("linkjob", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decide_only", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("redecided", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("linkjob", schema=None) as batch_op:
        batch_op.drop_column("redecided")
        batch_op.drop_column("decide_only")
    with op.batch_alter_table("placement", schema=None) as batch_op:
        batch_op.drop_column("link_inputs")
