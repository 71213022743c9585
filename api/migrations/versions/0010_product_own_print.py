"""products keep the boxes a brand marked around the print only that product has (its flavour picture,
its variant's name): auto-approval then needs keypoints matched inside them

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("product", schema=None) as batch_op:
        # Products made before this revision have no marks: an empty list.
        batch_op.add_column(sa.Column("own_print", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.alter_column("own_print", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_column("own_print")
