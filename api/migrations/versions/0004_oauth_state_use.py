"""provider connect states used once (Stripe Connect OAuth, Shopify app install)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oauthstateuse",
        sa.Column("nonce", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brand.id"]),
        sa.PrimaryKeyConstraint("nonce"),
    )
    with op.batch_alter_table("oauthstateuse", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauthstateuse_brand_id"), ["brand_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauthstateuse_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oauthstateuse", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauthstateuse_expires_at"))
        batch_op.drop_index(batch_op.f("ix_oauthstateuse_brand_id"))
    op.drop_table("oauthstateuse")
