"""tag jobs keep their seconds by phase (index, decode, detect, track, locate, link)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tagjob") as batch:
        # Jobs finished before this revision have no timings: an empty object, not a guess.
        batch.add_column(sa.Column("seconds", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("tagjob") as batch:
        batch.alter_column("seconds", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("tagjob") as batch:
        batch.drop_column("seconds")
