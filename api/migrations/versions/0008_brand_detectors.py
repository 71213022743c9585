"""brand detectors (trained from packshots) and the jobs that train them

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "branddetector",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("card_path", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("classes", sa.Integer(), nullable=False),
        sa.Column("catalog_fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("train_job_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brand.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("branddetector", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_branddetector_brand_id"), ["brand_id"], unique=False)

    op.create_table(
        "detectortrainjob",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("phase", sa.String(length=20), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("products", sa.Integer(), nullable=False),
        sa.Column("detector_id", sa.Uuid(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["brand_id"], ["brand.id"]),
        sa.ForeignKeyConstraint(["detector_id"], ["branddetector.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    active = sa.text("state IN ('queued', 'running')")
    with op.batch_alter_table("detectortrainjob", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_detectortrainjob_brand_id"), ["brand_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_detectortrainjob_state"), ["state"], unique=False)
        # One queued or running train job per brand (a partial unique index on both backends).
        batch_op.create_index(
            "uq_detectortrainjob_active_brand",
            ["brand_id"],
            unique=True,
            sqlite_where=active,
            postgresql_where=active,
        )


def downgrade() -> None:
    with op.batch_alter_table("detectortrainjob", schema=None) as batch_op:
        batch_op.drop_index("uq_detectortrainjob_active_brand")
        batch_op.drop_index(batch_op.f("ix_detectortrainjob_state"))
        batch_op.drop_index(batch_op.f("ix_detectortrainjob_brand_id"))
    op.drop_table("detectortrainjob")
    with op.batch_alter_table("branddetector", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_branddetector_brand_id"))
    op.drop_table("branddetector")
