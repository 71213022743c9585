"""image URLs that failed in a way that may pass (a timeout, HTTP 429 or 5xx) are tried again: each
image counts its fetch attempts and says from when it is due again

Images that failed before this revision stay failed for good, as they were stored: their errors do not
say whether the failure could pass (the brand adds such an image anew to retry it).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("productimage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fetch_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("fetch_retry_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("productimage", schema=None) as batch_op:
        batch_op.drop_column("fetch_retry_at")
        batch_op.drop_column("fetch_attempts")
