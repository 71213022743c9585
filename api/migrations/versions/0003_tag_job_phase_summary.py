"""tag jobs say which phase they are in and, once finished, what they found

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tagjob") as batch:
        batch.add_column(sa.Column("phase", sa.String(length=20), nullable=False, server_default="finished"))
        batch.add_column(sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    # Jobs still waiting keep saying so; every other older job has finished its phases (a running one
    # is set again as it goes).
    op.execute("UPDATE tagjob SET phase = 'queued' WHERE state = 'queued'")
    with op.batch_alter_table("tagjob") as batch:
        batch.alter_column("phase", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("tagjob") as batch:
        batch.drop_column("summary")
        batch.drop_column("phase")
