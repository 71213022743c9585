"""jobs for catalog sync and image fetching; every job records when its message was published; link
jobs keep their seconds by phase

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _job_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
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
        sa.PrimaryKeyConstraint("id"),
    ]


def upgrade() -> None:
    op.create_table(
        "syncjob",
        *_job_columns(),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
    )
    op.create_table(
        "imagefetchjob",
        *_job_columns(),
        sa.Column("images_fetched", sa.Integer(), nullable=False),
        sa.Column("images_failed", sa.Integer(), nullable=False),
    )
    for table in ("syncjob", "imagefetchjob"):
        with op.batch_alter_table(table) as batch:
            batch.create_index(batch.f(f"ix_{table}_brand_id"), ["brand_id"], unique=False)
            batch.create_index(batch.f(f"ix_{table}_state"), ["state"], unique=False)
    # Jobs queued before this revision were handed to in-process workers or a polling worker, never a
    # broker: null makes a broker-backed API publish the ones still queued.
    for table in ("tagjob", "linkjob"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("linkjob") as batch:
        batch.add_column(sa.Column("seconds", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("linkjob") as batch:
        batch.alter_column("seconds", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("linkjob") as batch:
        batch.drop_column("seconds")
    for table in ("tagjob", "linkjob"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("published_at")
    for table in ("imagefetchjob", "syncjob"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(batch.f(f"ix_{table}_state"))
            batch.drop_index(batch.f(f"ix_{table}_brand_id"))
        op.drop_table(table)
