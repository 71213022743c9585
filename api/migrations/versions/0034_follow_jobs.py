"""follow jobs: a drawn placement's box followed through its span by a worker (`tagger.follow`), one
queued or running per placement

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 09:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE = "state IN ('queued', 'running')"


def upgrade() -> None:
    op.create_table(
        "followjob",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("episode_id", sa.Uuid(), nullable=False),
        sa.Column("placement_id", sa.Uuid(), nullable=False),
        sa.Column("placement_version", sa.Integer(), nullable=False),
        sa.Column("box", sa.JSON(), nullable=False),
        sa.Column("at_ms", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("keyframes", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["brand_id"], ["brand.id"]),
        sa.ForeignKeyConstraint(["episode_id"], ["episode.id"]),
        sa.ForeignKeyConstraint(["placement_id"], ["placement.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("followjob", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_followjob_brand_id"), ["brand_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_followjob_episode_id"), ["episode_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_followjob_placement_id"), ["placement_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_followjob_state"), ["state"], unique=False)
        batch_op.create_index(
            "uq_followjob_active_placement",
            ["placement_id"],
            unique=True,
            sqlite_where=sa.text(_ACTIVE),
            postgresql_where=sa.text(_ACTIVE),
        )


def downgrade() -> None:
    op.drop_table("followjob")
