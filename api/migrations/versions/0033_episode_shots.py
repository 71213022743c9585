"""an episode's shots as its last finished tag job found them (`GET /v1/episodes/{id}/shots`): where a
brand looks for the products the tagger missed. Null for episodes tagged before: their next tag job
stores them

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 09:48:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("episode", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shots", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("episode", schema=None) as batch_op:
        batch_op.drop_column("shots")
