"""placements a person drew (`POST /v1/episodes/{id}/placements`, the console's "Add a hotspot"): a
product the tagger did not find, boxed and named by the brand. Marked so that the console tells them
from the tagger's, no re-link reads crops they do not have, and a re-tag keeps them (every row before
this migration was the tagger's: false); with the `Idempotency-Key` it was drawn under, one per episode
and key, so a retried request answers the first drawing instead of adding a second

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 09:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_KEYED = "idempotency_key IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("placement", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("drawn_by_hand", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
        batch_op.create_index(
            "uq_placement_episode_idempotency_key",
            ["episode_id", "idempotency_key"],
            unique=True,
            sqlite_where=sa.text(_KEYED),
            postgresql_where=sa.text(_KEYED),
        )


def downgrade() -> None:
    with op.batch_alter_table("placement", schema=None) as batch_op:
        batch_op.drop_index("uq_placement_episode_idempotency_key")
        batch_op.drop_column("idempotency_key")
        batch_op.drop_column("drawn_by_hand")
