"""the analytics funnel reads a placement's events by type: one index on (placement_id, type) in place
of the one on placement_id (measured: a brand of 1,000,000 events answered in 4.3 s on SQLite)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 20:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _concurrently() -> bool:
    # A large events table on PostgreSQL keeps taking the players' events while the index is built.
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _concurrently():
        with op.get_context().autocommit_block():
            # A build that was interrupted (a timeout, Ctrl-C) leaves an invalid index of this name
            # behind, outside any transaction: dropped first, so running the upgrade again finishes it.
            op.drop_index(
                "ix_event_placement_type", table_name="event", postgresql_concurrently=True, if_exists=True
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
