"""an episode's transcode is a job, not work inside the request that registered it; uploads take an
`Idempotency-Key`

Episodes get `media_error` (why their video could not be made browser-playable; status `unplayable`)
and `idempotency_key` (one episode per brand and key); transcode jobs get their table. Episodes stored
before this revision were transcoded in their request: nothing of theirs changes.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 15:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYED = "idempotency_key IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("episode", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("media_error", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True)
        )
        batch_op.add_column(
            sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
        batch_op.create_index(
            "uq_episode_brand_idempotency_key",
            ["brand_id", "idempotency_key"],
            unique=True,
            sqlite_where=sa.text(_KEYED),
            postgresql_where=sa.text(_KEYED),
        )
    op.create_table(
        "transcodejob",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("episode_id", sa.Uuid(), nullable=False),
        sa.Column("source_path", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("source_owned", sa.Boolean(), nullable=False),
        sa.Column("shown_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["brand_id"], ["brand.id"]),
        sa.ForeignKeyConstraint(["episode_id"], ["episode.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("transcodejob", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transcodejob_brand_id"), ["brand_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_transcodejob_episode_id"), ["episode_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_transcodejob_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("transcodejob", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transcodejob_state"))
        batch_op.drop_index(batch_op.f("ix_transcodejob_episode_id"))
        batch_op.drop_index(batch_op.f("ix_transcodejob_brand_id"))
    op.drop_table("transcodejob")
    with op.batch_alter_table("episode", schema=None) as batch_op:
        batch_op.drop_index("uq_episode_brand_idempotency_key")
        batch_op.drop_column("idempotency_key")
        batch_op.drop_column("media_error")
