"""the analytics funnel reads a placement's events by type: one index on (placement_id, type) in place
of the one on placement_id (measured: a brand of 1,000,000 events answered in 4.3 s on SQLite)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 20:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _is_valid(name: str) -> bool | None:
    """PostgreSQL: whether the index `name` is valid (None: there is none). An interrupted CREATE INDEX
    CONCURRENTLY leaves an invalid one behind, which is never read."""
    valid = op.get_bind().execute(
        sa.text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"), {"name": name}
    )
    return valid.scalar_one_or_none()


def _concurrently() -> bool:
    # A large events table on PostgreSQL keeps taking the players' events while the index is built.
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _concurrently():
        with op.get_context().autocommit_block():
            # A build that was interrupted (a timeout, Ctrl-C) leaves an invalid index of this name
            # behind, outside any transaction: dropped and built again when the upgrade is run again. A
            # valid one (the build finished, the old index's drop or the revision's record did not) is
            # kept: dropping it then could leave the table with no usable index on placement_id.
            if not _is_valid("ix_event_placement_type"):
                op.drop_index(
                    "ix_event_placement_type",
                    table_name="event",
                    postgresql_concurrently=True,
                    if_exists=True,
                )
                op.create_index(
                    "ix_event_placement_type", "event", ["placement_id", "type"], postgresql_concurrently=True
                )
            op.drop_index(
                "ix_event_placement_id", table_name="event", postgresql_concurrently=True, if_exists=True
            )
        return
    op.create_index("ix_event_placement_type", "event", ["placement_id", "type"])
    op.drop_index("ix_event_placement_id", table_name="event")


def downgrade() -> None:
    if _concurrently():
        with op.get_context().autocommit_block():
            op.drop_index(
                "ix_event_placement_id", table_name="event", postgresql_concurrently=True, if_exists=True
            )
            op.create_index("ix_event_placement_id", "event", ["placement_id"], postgresql_concurrently=True)
            op.drop_index(
                "ix_event_placement_type", table_name="event", postgresql_concurrently=True, if_exists=True
            )
        return
    op.create_index("ix_event_placement_id", "event", ["placement_id"])
    op.drop_index("ix_event_placement_type", table_name="event")
