"""an upload retried with its `Idempotency-Key` must send as many bytes as the first: episodes keep
the size of the upload as received

Episodes registered before this revision (and every server-path episode) have no upload size: a retry
of theirs is matched on the title alone, as before.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 17:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("episode", schema=None) as batch_op:
        batch_op.add_column(sa.Column("upload_bytes", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("episode", schema=None) as batch_op:
        batch_op.drop_column("upload_bytes")
