"""a placement's events by type and time: (placement_id, type, occurred_at) in place of 0027's (placement_id,
type), so that counting events per UTC day (`reelcart analytics recount` and `check`) reads the index alone
instead of every event's row on SQLite (PostgreSQL groups them as fast either way; measured in
BENCHMARKS.md, "Recount and check read the index")

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 06:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NEW, _NEW_COLUMNS = "ix_event_placement_type_time", ["placement_id", "type", "occurred_at"]
_OLD, _OLD_COLUMNS = "ix_event_placement_type", ["placement_id", "type"]


def _is_valid(name: str) -> bool | None:
    """PostgreSQL: whether the index `name` is valid (None: there is none). An interrupted CREATE INDEX
    CONCURRENTLY leaves an invalid one behind, which is never read."""
    valid = op.get_bind().execute(
        sa.text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"), {"name": name}
    )
    return valid.scalar_one_or_none()


def _replace(build: str, columns: list[str], drop: str) -> None:
    """Build one index, then drop the other: never a moment without an index on placement_id (an episode's
    deletion and the foreign key's checks need one)."""
    if op.get_bind().dialect.name == "postgresql":
        # As in 0027: built without blocking the players' events. Running the upgrade again after an
        # interruption finishes it: an invalid index of this name (an interrupted build) is dropped and
        # built again; a valid one (the build finished, dropping the other did not) is kept, so the table
        # is never left without a usable index while it is rebuilt.
        with op.get_context().autocommit_block():
            if not _is_valid(build):
                op.drop_index(build, table_name="event", postgresql_concurrently=True, if_exists=True)
                op.create_index(build, "event", columns, postgresql_concurrently=True)
            op.drop_index(drop, table_name="event", postgresql_concurrently=True, if_exists=True)
        return
    op.create_index(build, "event", columns)
    op.drop_index(drop, table_name="event")


def upgrade() -> None:
    _replace(_NEW, _NEW_COLUMNS, _OLD)


def downgrade() -> None:
    _replace(_OLD, _OLD_COLUMNS, _NEW)
