"""placements a person drew (`POST /v1/episodes/{id}/placements`, the console's "Add a hotspot"): a
product the tagger did not find, boxed and named by the brand. Marked so that the console tells them
from the tagger's, no re-link reads crops they do not have, and a re-tag keeps them (every row before
this migration was the tagger's: false)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 09:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("placement", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("drawn_by_hand", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("placement", schema=None) as batch_op:
        batch_op.drop_column("drawn_by_hand")
